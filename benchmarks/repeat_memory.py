"""Peak memory of extracting again in the same process, against a plain forward over the same batches, and where the
peak happens.

    python benchmarks/repeat_memory.py [--model smollm2-135m] [--n 256] [--repeats 3] [--out FILE]

After the model loads, three plain forwards over the batches `extract` would make, then `--repeats` extractions into
fresh cache folders; before each, the peak is reset (`echo 5 > /proc/self/clear_refs`) and read from VmHWM after.
A last extraction runs with a thread sampling RSS every 2 ms, which records the main thread's stack at the highest
sample: the place to look when the extra peak is large. Target: an extraction's own peak ≤ 50 MB above a plain
forward's (it was +223 MB on SmolLM2 until the fingerprint stopped summing a float64 copy of each weight).
"""
import argparse, gc, sys, tempfile, threading, time, traceback

from _common import corpus_texts, emit


def _status(key: str) -> float:
    for line in open("/proc/self/status"):
        if line.startswith(key): return int(line.split()[1]) / 1024
    raise KeyError(key)


def _reset(): open("/proc/self/clear_refs", "w").write("5")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    import torch
    from msma_lab.extract import encode_texts, extract, forward_stacks, make_batch
    from msma_lab.models import load_model
    lm = load_model(a.model); lm.fingerprint
    texts = corpus_texts(a.n)
    segs = encode_texts(lm, texts, long_texts="split")

    def peak(fn) -> float:
        gc.collect(); _reset(); r0 = _status("VmRSS"); fn(); return _status("VmHWM") - r0

    def plain():
        with torch.no_grad():
            for i in range(0, len(segs), 16): forward_stacks(lm, make_batch(lm, segs[i:i + 16]))

    plains = [peak(plain) for _ in range(3)]
    extracts = [peak(lambda: extract(lm, texts, "sentence", cache_root=tempfile.mkdtemp(), progress=False)) for _ in range(a.repeats)]
    main_id, best, stop = threading.main_thread().ident, [0.0, []], [False]

    def sampler():
        while not stop[0]:
            r = _status("VmRSS")
            if r > best[0]:
                f = sys._current_frames().get(main_id)
                best[0], best[1] = r, [f"{x.filename.split('/')[-1]}:{x.lineno} {x.name}" for x in traceback.extract_stack(f)[-6:]] if f else []
            time.sleep(0.002)

    gc.collect(); r0 = _status("VmRSS")
    th = threading.Thread(target=sampler, daemon=True); th.start()
    extract(lm, texts, "sentence", cache_root=tempfile.mkdtemp(), progress=False)
    stop[0] = True; th.join()
    emit(dict(benchmark="repeat_memory", model=a.model, texts=a.n, plain_forward_peak_mb=[round(x, 1) for x in plains],
              extract_peak_mb=[round(x, 1) for x in extracts], extra_peak_mb=round(max(extracts[1:] or extracts) - max(plains[1:]), 1),   # after the first (warm-up) of each
              target_mb=50, peak_sampled_mb=round(best[0] - r0, 1), peak_at=best[1]), a.out)


if __name__ == "__main__":
    main()
