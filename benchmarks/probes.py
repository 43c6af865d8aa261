"""Wall time of each layerwise probe `msma_lab.probing.probe` as `msma run` calls it (5 seeds, default options).

    python benchmarks/probes.py [--model smollm2-135m] [--labels pos form topic] [--seeds 0 1 2 3 4] [--out FILE]
    OMP_NUM_THREADS=1 python benchmarks/probes.py           # the same with the thread plan capped at one thread

Part of speech on token units of 8 documents per topic (`load_corpus().take(8)`, first sub-words only: ~4,000 units
after the per-seed subsample), form and topic on the sentence units of the whole corpus; every hidden state, control
task, C ∈ {0.01, 0.1, 1, 10}, 128 whitened PCA dimensions. Target: every probe under 30 s on 2 CPU cores with no
environment variables set. Prints one JSON object: per probe the wall time, units, layers and the worker processes
it used (large probes run their layers in one process per thread of the plan), plus the extraction time (about
zero when cached) and the load average before and after (other work on the machine makes single runs vary).
"""
import argparse, os, platform, time

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--labels", nargs="+", default=["pos", "form", "topic"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--out", default="benchmarks/results/probes.json", help="'' to skip the copy")
    a = ap.parse_args()
    from _common import emit
    from msma_lab.config import thread_count, work_threads
    from msma_lab.corpus import load_corpus
    from msma_lab.extract import extract
    from msma_lab import probing
    t0 = time.perf_counter()
    sent, tok = extract(a.model, load_corpus(), "sentence", progress=False), extract(a.model, load_corpus().take(8), "token", progress=False)
    t_extract, load0, res = time.perf_counter() - t0, os.getloadavg(), {}
    for lab in a.labels:
        acts = tok if lab == "pos" else sent
        t = time.perf_counter()
        r = probing.probe(acts, lab, seeds=tuple(a.seeds))
        wall, n = time.perf_counter() - t, len(probing.probe_rows(acts, lab))
        with work_threads(): workers = getattr(probing, "_workers", lambda n: 1)(len(r.layers) * int(r.runs[["n_train", "n_val", "n_test"]].iloc[0].sum()) * len(a.seeds))
        res[lab] = dict(wall_s=round(wall, 1), meets_target=wall < 30, units=n, units_per_seed=int(r.runs[["n_train", "n_val", "n_test"]].iloc[0].sum()),
                        layers=len(r.layers), workers=workers, peak_layer=int(r.peak().layer))
    emit(dict(benchmark="probes", model=a.model, seeds=a.seeds, omp_num_threads=os.environ.get("OMP_NUM_THREADS"),
              thread_plan=thread_count(), machine=platform.machine(), extract_or_cache_s=round(t_extract, 2), target_s=30,
              probes=res, loadavg_before=[round(x, 2) for x in load0], loadavg_after=[round(x, 2) for x in os.getloadavg()]), a.out)
