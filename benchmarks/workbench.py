"""The live workbench's responsiveness: latency from a slider move to the first edited token, and what a regeneration costs
against calling `generate` yourself.

    python benchmarks/workbench.py [--model smollm2-135m] [--moves 12] [--tokens 32] [--out FILE]

Run it as a user runs the workbench: no thread variables set (the library picks its own thread count). The slider is
moved from the kernel side (`.value = ...`, which is what an arriving widget message does), one value at a time, each
update allowed to finish. Reported, as medians (and max) over the moves:

- `first_token_s`: slider move → the first edited token in the HTML widget. It includes the 0.1 s debounce, the edit's
  prefill and one decoding step. Target ≤ 0.3 s on this machine's CPU.
- `regeneration_ratio`: the workbench's 32-token edited regeneration (streaming into the widget, the cancel check at
  every step) over `generate` of the same request with the same edit, timed alternately in the same process.
  Target ≤ 1.10.
- `update_s`: slider move → texts and all three plots redrawn (effect metrics, residual norms, 2-D map).
"""
import argparse, statistics, time

from _common import emit


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--moves", type=int, default=12)
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    import torch
    from msma_lab.intervene import generate
    from msma_lab.workbench import Workbench, request_edit
    t0 = time.perf_counter()
    wb = Workbench(a.model, max_new_tokens=a.tokens)
    assert wb.wait(600) and wb.error is None, wb.error
    ready = time.perf_counter() - t0
    strengths = [0.5 + 0.05 * (i % 2) + 0.1 * (i // 2) for i in range(a.moves)]   # small moves, as a dragged slider makes
    first, regen, plain, update, tokens = [], [], [], [], []
    for s in strengths:
        wb.controls["strength"].value = s
        assert wb.wait(600) and wb.error is None, wb.error
        t = wb.timings[-1]
        first.append(t["first_token"] - t["event"]); regen.append(t["generated"] - t["start"]); update.append(t["drawn"] - t["event"])
        r = wb.request()
        e = request_edit(wb.lm, r, wb.bands, wb._directions)
        g0 = time.perf_counter()
        g = generate(wb.lm, r.prompt, e, max_new_tokens=r.max_new_tokens, sample=r.sample, seeds=(r.seed,),
                     temperature=r.temperature, top_p=r.top_p)
        plain.append(time.perf_counter() - g0)
        assert g.token_ids("p0", r.seed) == t["ids"], "the workbench generated other tokens than generate()"
        tokens.append(t["tokens"])
    wb.close()
    ratio = [x / y for x, y in zip(regen, plain)]
    emit(dict(benchmark="workbench", model=a.model, device=str(wb.lm.device), torch_threads=torch.get_num_threads(),
              moves=a.moves, tokens_median=statistics.median(tokens), startup_s=round(ready, 2),
              first_token_s=dict(median=round(statistics.median(first), 3), max=round(max(first), 3), target=0.3),
              regeneration_ratio=dict(median=round(statistics.median(ratio), 3), max=round(max(ratio), 3), target=1.10),
              regeneration_s=round(statistics.median(regen), 3), generate_s=round(statistics.median(plain), 3),
              update_s=dict(median=round(statistics.median(update), 3), max=round(max(update), 3)),
              same_tokens=True), a.out)


if __name__ == "__main__":
    main()
