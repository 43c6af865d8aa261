"""Peak resident memory of `msma_lab.extract.extract` on a large vs a small request.

What it measures
----------------
For each size in ``--sizes`` (default 200 and 2000 sentences) a FRESH subprocess (so every peak is per-size):

1. loads the model (``--model``, default ``smollm2-135m``) and builds the texts: the shipped corpus's sentences,
   repeated with a `` (copy k)`` suffix to make ``size`` distinct texts (the corpus has < 2000 sentences);
2. records RSS after the model load (``VmRSS``);
3. resets the kernel's peak counter (``echo 5 > /proc/self/clear_refs`` resets ``VmHWM``) and computes
   ``lm.fingerprint`` (extract() does this once per model: it hashes every weight), recording its peak;
4. resets the peak again and runs ``extract(lm, texts, batch_size=16, cache_root=<fresh dir>, progress=False,
   cache_dtype="float16")``, recording the peak during extraction three ways: ``VmHWM`` (reset just before),
   the max of ``VmRSS`` sampled every 5 ms by a thread, and ``ru_maxrss`` (whole-process peak, includes the load).

The parent reports, per size, those numbers in MB (1 MB = 2**20 bytes) and
``growth_mb = peak_extract(largest) - peak_extract(smallest)`` (target <= 100 MB: extraction memory must not
grow with the corpus; the cache is written to disk batch by batch).

Run (from the repository root)::

    . .venv/bin/activate
    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 python benchmarks/extract_memory.py
    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 python benchmarks/extract_memory.py --model minilm-l6 --sizes 200 5000

Prints one JSON object; also writes it to benchmarks/results/extract_memory.json (``--out ''`` for none).
The runs are sequential (one subprocess at a time).
"""
from __future__ import annotations
import argparse, json, os, platform, resource, shutil, subprocess, sys, tempfile, threading, time
from pathlib import Path
from _common import corpus_texts, emit   # benchmarks/_common.py (scripts run from benchmarks/ on sys.path)

RESULTS = Path(__file__).resolve().parent/"results"
MB = 2 ** 20


def status_kb(field: str) -> int:
    "A field of /proc/self/status in kB (VmRSS, VmHWM, ...)"
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"): return int(line.split()[1])
    return -1


def reset_peak() -> bool:
    "Reset VmHWM to the current RSS (Linux >= 4.0); False where not allowed"
    try:
        with open("/proc/self/clear_refs", "w") as f: f.write("5")
        return True
    except OSError: return False


class Sampler:
    "Max VmRSS sampled every `dt` seconds in a background thread"
    def __init__(self, dt=0.005): self.dt, self.peak_kb, self._stop = dt, 0, threading.Event()
    def _run(self):
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, status_kb("VmRSS")); time.sleep(self.dt)
    def __enter__(self):
        self.peak_kb = status_kb("VmRSS"); self._t = threading.Thread(target=self._run, daemon=True); self._t.start(); return self
    def __exit__(self, *a):
        self._stop.set(); self._t.join(); self.peak_kb = max(self.peak_kb, status_kb("VmRSS"))




def child(model: str, size: int, batch_size: int, tmp_parent) -> dict:
    import torch
    from msma_lab.models import load_model
    from msma_lab.extract import extract
    mb = lambda kb: round(kb / 1024, 1)
    rss_start = status_kb("VmRSS")
    t = time.perf_counter(); lm = load_model(model); load_s = time.perf_counter() - t
    texts = corpus_texts(size)
    rss_load = status_kb("VmRSS")
    can_reset = reset_peak()
    with Sampler() as s_fp:
        t = time.perf_counter(); _ = lm.fingerprint; fp_s = time.perf_counter() - t
    fp_hwm = status_kb("VmHWM")
    rss_before = status_kb("VmRSS")
    reset_peak()
    root = tempfile.mkdtemp(prefix="msma-mem-", dir=tmp_parent)
    try:
        with Sampler() as s_ex:
            t = time.perf_counter()
            acts = extract(lm, texts, granularity="sentence", batch_size=batch_size, cache_root=root, progress=False,
                           cache_dtype="float16")
            ex_s = time.perf_counter() - t
        ex_hwm = status_kb("VmHWM")
        cache_bytes = sum(p.stat().st_size for p in Path(acts.path).iterdir())
        n_units = len(acts)
    finally: shutil.rmtree(root, ignore_errors=True)
    return dict(size=size, n_units=n_units, model=model, torch_threads=torch.get_num_threads(),
                model_load_s=round(load_s, 2), fingerprint_s=round(fp_s, 2), extract_s=round(ex_s, 2),
                rss_interpreter_mb=mb(rss_start), rss_after_load_mb=mb(rss_load), rss_before_extract_mb=mb(rss_before),
                peak_fingerprint_mb=mb(fp_hwm if can_reset else s_fp.peak_kb), peak_fingerprint_sampled_mb=mb(s_fp.peak_kb),
                peak_extract_hwm_mb=mb(ex_hwm) if can_reset else None, peak_extract_sampled_mb=mb(s_ex.peak_kb),
                peak_extract_mb=mb(ex_hwm if can_reset else s_ex.peak_kb),
                rss_after_extract_mb=mb(status_kb("VmRSS")),
                ru_maxrss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                hwm_reset_supported=can_reset, cache_mb=round(cache_bytes / MB, 1))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="smollm2-135m")
    p.add_argument("--sizes", nargs="+", type=int, default=[200, 2000], help="numbers of sentences, one subprocess each")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--tmp", default=None, help="parent folder of the throw-away cache roots (default: system temp)")
    p.add_argument("--out", default=str(RESULTS/"extract_memory.json"), help="also write the JSON here ('' for none)")
    p.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child is not None:
        print(json.dumps(child(a.model, a.child, a.batch_size, a.tmp))); return
    runs = []
    for n in a.sizes:
        cmd = [sys.executable, __file__, "--child", str(n), "--model", a.model, "--batch-size", str(a.batch_size)]
        if a.tmp: cmd += ["--tmp", a.tmp]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode: sys.exit(f"child for size {n} failed:\n{r.stderr[-4000:]}")
        runs.append(json.loads(r.stdout.strip().splitlines()[-1]))
    lo, hi = min(runs, key=lambda r: r["size"]), max(runs, key=lambda r: r["size"])
    growth = round(hi["peak_extract_mb"] - lo["peak_extract_mb"], 1)
    res = dict(benchmark="extract_memory", date=time.strftime("%Y-%m-%d %H:%M:%S"), python=platform.python_version(),
               cpus=os.cpu_count(), omp_num_threads=os.environ.get("OMP_NUM_THREADS"), model=a.model,
               batch_size=a.batch_size, runs=runs,
               growth_mb=growth, growth_sampled_mb=round(hi["peak_extract_sampled_mb"] - lo["peak_extract_sampled_mb"], 1),
               growth_ru_maxrss_mb=round(hi["ru_maxrss_mb"] - lo["ru_maxrss_mb"], 1),
               extract_overhead_over_model_mb={str(r["size"]): round(r["peak_extract_mb"] - r["rss_before_extract_mb"], 1) for r in runs},
               target_growth_mb=100, meets_target=bool(growth <= 100))
    emit(res, a.out)


if __name__ == "__main__":
    main()
