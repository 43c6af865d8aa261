"""The full effects study of 11_effects on a real model, and its wall time.

    python benchmarks/effects.py [--model smollm2-135m] [--per-genre 2 | --full] [--seeds 0 1 2 3 4] [--save DIR] [--out FILE]

Every scale amplified at 0.25 / 0.5 / 1 and the two random controls of the 0.5 edit (norm-matched: noise of the same
strength; effect-matched: noise moving the next-token distribution as far, `11_effects.matched_noise`), against the
unedited model, over `--per-genre` prompts of each of the 12 genres of data/prompts.jsonl (2: 24 prompts; `--full`:
all 120) × the seeds, sampled at the settings' temperature / top-p, ≤ max_new_tokens, the conditions in worker
processes (one per core). Prints one JSON object: the wall time, the paper table (% change, Cliff's δ, Holm p, verdict
per claim), the controls' noise strengths and every edit's % change against the unedited model per metric. `--save`
keeps the Effects result (Result.load reads it back) and the dose-response figures as HTML.
"""
import argparse, os, time

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--per-genre", type=int, default=2)
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--save", default="")
    ap.add_argument("--out", default="benchmarks/results/effects.json", help="'' to skip the copy")
    a = ap.parse_args()
    from _common import emit
    from msma_lab.config import thread_count
    from msma_lab.effects import METRICS, paper_table, run_effects
    from msma_lab.intervene import load_prompts
    from msma_lab.models import load_model
    lm = load_model(a.model)
    P = load_prompts()
    if not a.full: P = P.groupby("genre", sort=False).head(a.per_genre)
    load0, t = os.getloadavg(), time.perf_counter()
    fx = run_effects(lm, P, seeds=tuple(a.seeds), progress=False)
    wall = time.perf_counter() - t
    pt = paper_table(fx)
    cmp = fx.comparisons()
    edits = cmp[cmp.against == "unedited"].pivot_table(index="condition", columns="metric", values="change_pct")
    if a.save:
        fx.save(a.save)
        for k in ("distinct_1", "mtld", "sentences", "sentence_length", "coherence", "perplexity"):
            fx.figure(k).write_html(os.path.join(a.save, f"dose_{k}.html"), include_plotlyjs="cdn")
    res = dict(model=a.model, prompts=len(P), seeds=a.seeds, conditions=int(fx.metrics.condition.nunique()), controls=fx.config["controls"],
               generations=len(fx.metrics), wall_s=round(wall, 1), threads=thread_count(),
               paper_table=pt.round(4).to_dict("records"), change_pct_vs_unedited=edits.round(2).to_dict("index"),
               load_before=load0, load_after=os.getloadavg())
    emit(res, a.out)
