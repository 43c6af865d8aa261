"""Deliberately wrong code must fail a test. Applies one mutation at a time to a copy of the notebooks (in a temporary
folder), runs that chapter's cells with nbdev-test (no slow cells) and prints whether a cell caught it.

    python tools/mutation_check.py                  # all mutations (~4 min on 2 cores)
    python tools/mutation_check.py "band gain"      # those whose description contains the words

Every row must read "caught". A verdict or statistic added to msma_lab should add its mutation here."""
import json, shutil, subprocess, sys, os, tempfile
from pathlib import Path
SRC = Path(__file__).resolve().parent.parent
DST = Path(tempfile.mkdtemp(prefix="msma-mutations-"))
MUTATIONS = [  # (notebook, exact old text, new text, what it breaks)
 ("04b_stats", "gain, sst = (b.sse - a.sse).to_numpy(), a.sst.to_numpy()", "gain, sst = (a.sse - b.sse).to_numpy(), a.sst.to_numpy()", "R² difference sign flipped"),
 ("04b_stats", "    return float(res.pvalue)", "    return 0.001", "sign-flip p-value fixed at 0.001"),
 ("04b_stats", "adj = np.maximum.accumulate((len(p) - np.arange(len(p))) * p[order]).clip(max=1)", "adj = p[order]", "Holm correction dropped"),
 ("07a_crossfit", "rr[idx] = 1.0 / ((D < np.diag(D)[:, None]).sum(1) + 1)", "rr[idx] = 1.0 / ((D > np.diag(D)[:, None]).sum(1) + 1)", "MRR rank inverted"),
 ("07_evaluate", "mi_ratio=r[mi] / rb[mi] if rb[mi] > 0 else np.nan", "mi_ratio=rb[mi] / r[mi] if r[mi] > 0 else np.nan", "information retained inverted"),
 ("09_probing", "parts.append(acc[val[list(a)].idxmax()] - acc[val[list(b)].idxmax()])", "parts.append(acc[val[list(b)].idxmax()] - acc[val[list(a)].idxmax()])", "band gain sign flipped"),
 ("09_probing", "    if not (gain > 0 and p_gain < alpha): return \"no\"", "    if not (gain > 0 and p_gain > alpha): return \"no\"", "band-call threshold inverted"),
 ("09_probing", "    return v if v in r.runs else metric", "    return metric", "peak chosen on test, not validation"),
 ("09_probing", "    return {**st, \"excess\": ex[\"gain\"],", "    return {**st, \"excess\": -ex[\"gain\"],", "random-placement excess sign flipped"),
 ("11_effects", "if ((np.sign(g.change_pct) == sign) & (g.p_holm < alpha)).all(): return \"reproduced\"", "if ((np.sign(g.change_pct) == sign) & (g.p_holm < alpha)).any(): return \"reproduced\"", "a claim reproduced when any one comparison holds"),
 ("11_effects", "if (g.against == \"unedited\").all(): return \"not testable here (no random control)\"", "if False: return \"not testable here (no random control)\"", "a verdict without a random control"),
 ("11_effects", "s *= float(np.clip(np.sqrt(target / k), 0.25, 4.0))", "s *= float(np.clip(np.sqrt(k / target), 0.25, 4.0))", "matched control steps away from the edit's KL"),
 ("11_effects", "np.mean([ok1[l].astype(float) - ok0[lab, l] for l in reach], 0)", "np.mean([ok0[lab, l] - ok1[l].astype(float) for l in reach], 0)", "probe-accuracy change sign flipped"),
 ("11a_transfer", "    if shuffle_seed is not None: pred = pred[", "    if False: pred = pred[", "transfer null not shuffled"),
 ("12_control", "delta = m.predict(st_s(x[src])) * st_t.scale + st_t.mean - x[scale]", "delta = x[scale] - (m.predict(st_s(x[src])) * st_t.scale + st_t.mean)", "map correction moves away from the map's prediction"),
 ("12_control", "gap=(lp[torch.arange(len(a)), a] - lp[torch.arange(len(b)), b])", "gap=(lp[torch.arange(len(b)), b] - lp[torch.arange(len(a)), a])", "single-token bias gap sign flipped"),
]
def run(nb):
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    r = subprocess.run([str(SRC/".venv/bin/nbdev-test"), f"nbs/{nb}.ipynb"], cwd=DST, env=env, capture_output=True, text=True, timeout=900)
    return r.returncode == 0
if DST.exists(): shutil.rmtree(DST)
shutil.copytree(SRC/"nbs", DST/"nbs"); shutil.copy(SRC/"pyproject.toml", DST); shutil.copy(SRC/"settings.ini", DST)
rows = []
sel = sys.argv[1:]
for nb, old, new, what in [m for m in MUTATIONS if not sel or any(s in m[3] for s in sel)]:
    p = DST/"nbs"/f"{nb}.ipynb"; orig = p.read_text()
    d = json.loads(orig); hits = 0
    for c in d["cells"]:
        s = "".join(c["source"])
        if old in s: hits += s.count(old); c["source"] = s.replace(old, new).splitlines(keepends=True)
    if hits != 1: rows.append((what, nb, f"mutation matched {hits} times")); continue
    p.write_text(json.dumps(d, indent=1, ensure_ascii=False))
    ok = run(nb); p.write_text(orig)
    rows.append((what, nb, "NOT CAUGHT" if ok else "caught"))
    print(rows[-1], flush=True)
shutil.rmtree(DST, ignore_errors=True)
print("\n| mutation | chapter | result |\n|---|---|---|")
for r in rows: print(f"| {r[0]} | {r[1]} | {r[2]} |")
sys.exit(1 if any(r[2] != "caught" for r in rows) else 0)
