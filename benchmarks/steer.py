"""Cost of an edit during generation: `generate` under an edit against plain `generate`, same prompts, same tokens.

    python benchmarks/steer.py [--model smollm2-135m] [--prompts 16] [--tokens 40] [--repeats 3] [--out FILE]

Both runs sample with the same (seed, prompt, step) random numbers and generate exactly `--tokens` tokens per prompt
(`min_new_tokens`: no early EOS), so the ratio is the hooks' cost alone. The edit adds a unit direction across the intermediate band (every state of it,
every position). Target: ratio ≤ 1.05. Runs alternate (plain, edited, plain, ...) and the median of `--repeats` is
kept, so a slow spell on the machine hits both. When nnsight is installed, the same edit written with nnsight's
`generate` tracing is timed beside it (its own ratio to plain HF generation); otherwise that entry says why not.
"""
import argparse, os, statistics, time

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--tokens", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default="benchmarks/results/steer.json", help="'' to skip the copy")
    a = ap.parse_args()
    from _common import emit
    from msma_lab.config import thread_count, work_threads
    from msma_lab.intervene import Edit, generate, load_prompts, random_direction, band_norms
    from msma_lab.models import load_model
    lm = load_model(a.model)
    band_norms(lm)                                      # measured once (cached), not inside the timing
    P = load_prompts().text.tolist()[:a.prompts]
    edit = Edit("intermediate", op="add", direction=random_direction(lm, seed=0), strength=0.5)
    def run(e):
        t = time.perf_counter()
        g = generate(lm, P, e, max_new_tokens=a.tokens, sample=True, batch_size=len(P), min_new_tokens=a.tokens)
        return time.perf_counter() - t, int(g.texts.n_tokens.sum())
    load0 = os.getloadavg()
    with work_threads():
        run(None)                                       # warm-up
        plain, edited = [], []
        for _ in range(a.repeats):
            plain.append(run(None)); edited.append(run(edit))
    tp, te = statistics.median(x for x, _ in plain), statistics.median(x for x, _ in edited)
    res = dict(model=a.model, prompts=len(P), max_new_tokens=a.tokens, repeats=a.repeats, threads=thread_count(),
               tokens_plain=plain[0][1], tokens_edited=edited[0][1], plain_s=round(tp, 3), edited_s=round(te, 3),
               ratio=round(te / tp, 3), target=1.05, load_before=load0, load_after=os.getloadavg())
    try:
        import nnsight  # noqa: F401
        res["nnsight"] = "installed, but the side-by-side is not written yet"
    except ImportError:
        res["nnsight"] = "not installed (pip install nnsight==0.8.1 to time it beside)"
    emit(res, a.out)
