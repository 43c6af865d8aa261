"""Activation-cache size per unit, and the time to build vs. reload it.

What it measures
----------------
For ``--model`` (default ``smollm2-135m``) on ``--n`` sentences (default 500; the shipped corpus, repeated with a
`` (copy k)`` suffix if it is shorter) and each cache dtype in ``--dtypes`` (default float16 float32):

* bytes on disk per unit: every file of the cache folder (``<stack>.npy`` arrays, ``units.jsonl``, manifest, ...)
  divided by the number of units, next to the ideal ``n_hidden * d * itemsize``;
* ``cold_s``: a cold ``extract(lm, texts, batch_size=16, cache_root=<fresh dir>, progress=False, cache_dtype=...)``
  (forward passes + writes + checksums + opening the result);
* ``warm_extract_s``: the same extract() call again (a cache hit: tokenises/plans the corpus, hashes the request,
  then opens the cache with ``Activations(path)``, which verifies the sha256 of every array), median of ``--reps``;
  split into ``plan_s`` (``plan_extraction``, part of every extract() call) and ``open_verify_s``
  (``Activations(path)``, verify=True);
* ``open_noverify_s``: ``Activations(path, verify=False)`` (manifest + headers only), median of ``--reps``;
* ``read_layer_s``: reading one full layer (``acts.layer(-1)``, float32) after opening without verification.

The model fingerprint is computed before any timing (extract() does it once per model per process).

Run (from the repository root)::

    . .venv/bin/activate
    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 python benchmarks/cache_size.py
    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 python benchmarks/cache_size.py --model minilm-l6 --n 1000 --dtypes float16

Prints one JSON object; also writes it to benchmarks/results/cache_size.json (``--out ''`` for none).
Timings of the warm path depend on the page cache (the files were just written, so they are in RAM).
"""
from __future__ import annotations
import argparse, os, platform, shutil, statistics, tempfile, time
from pathlib import Path
import numpy as np
from _common import corpus_texts, emit   # benchmarks/_common.py (scripts run from benchmarks/ on sys.path)

RESULTS = Path(__file__).resolve().parent/"results"




def timed(f):
    t = time.perf_counter(); r = f(); return time.perf_counter() - t, r


def bench_dtype(lm, texts, dtype, batch_size, reps, tmp_parent):
    from msma_lab.extract import Activations, as_corpus, extract, plan_extraction
    root = tempfile.mkdtemp(prefix="msma-cache-", dir=tmp_parent)
    try:
        run = lambda: extract(lm, texts, granularity="sentence", batch_size=batch_size, cache_root=root, progress=False,
                              cache_dtype=dtype)
        cold_s, acts = timed(run)
        path, n = Path(acts.path), len(acts)
        files = {p.name: p.stat().st_size for p in sorted(path.iterdir()) if p.is_file()}
        arrays = {k: v for k, v in files.items() if k.endswith(".npy")}
        itemsize = np.dtype(dtype).itemsize
        ideal = {f"{s}.npy": lm.n_hidden[s] * lm.d_model * itemsize for s in lm.stacks}
        corpus = as_corpus(texts)
        warm, plan_t, verify_t, noverify_t, layer_t = [], [], [], [], []
        for _ in range(reps):
            warm.append(timed(run)[0])
            plan_t.append(timed(lambda: plan_extraction(lm, corpus, "sentence"))[0])
            verify_t.append(timed(lambda: Activations(path))[0])
            dt, a = timed(lambda: Activations(path, verify=False)); noverify_t.append(dt)
            layer_t.append(timed(lambda: a.layer(-1))[0])
        med = lambda v: round(statistics.median(v), 4)
        return dict(cache_dtype=dtype, n_units=n, path_name=path.name,
                    bytes_per_unit_per_array={k: round(v / n, 1) for k, v in arrays.items()},
                    ideal_bytes_per_unit_per_array=ideal,
                    bytes_per_unit_total=round(sum(files.values()) / n, 1),
                    file_bytes=files, total_mb=round(sum(files.values()) / 2**20, 2),
                    cold_s=round(cold_s, 3), warm_extract_s=med(warm), warm_extract_all_s=[round(x, 4) for x in warm],
                    plan_s=med(plan_t), open_verify_s=med(verify_t), open_noverify_s=med(noverify_t),
                    read_layer_s=med(layer_t),
                    speedup_cold_over_warm=round(cold_s / statistics.median(warm), 1))
    finally: shutil.rmtree(root, ignore_errors=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="smollm2-135m")
    p.add_argument("--n", type=int, default=500, help="number of sentences")
    p.add_argument("--dtypes", nargs="+", default=["float16", "float32"])
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--reps", type=int, default=3, help="repetitions of the warm (cache-hit) timings")
    p.add_argument("--tmp", default=None, help="parent folder of the throw-away cache roots (default: system temp)")
    p.add_argument("--out", default=str(RESULTS/"cache_size.json"), help="also write the JSON here ('' for none)")
    a = p.parse_args(argv)
    import torch
    from msma_lab.models import load_model
    load_s, lm = timed(lambda: load_model(a.model))
    texts = corpus_texts(a.n)
    fp_s, _ = timed(lambda: lm.fingerprint)
    res = dict(benchmark="cache_size", date=time.strftime("%Y-%m-%d %H:%M:%S"), python=platform.python_version(),
               torch=torch.__version__, torch_threads=torch.get_num_threads(), cpus=os.cpu_count(),
               omp_num_threads=os.environ.get("OMP_NUM_THREADS"), model=a.model, n_texts=len(texts),
               n_hidden=lm.n_hidden, d_model=lm.d_model, model_load_s=round(load_s, 3), fingerprint_s=round(fp_s, 3),
               by_dtype={d: bench_dtype(lm, texts, d, a.batch_size, a.reps, a.tmp) for d in a.dtypes})
    emit(res, a.out)


if __name__ == "__main__":
    main()
