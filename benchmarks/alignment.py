"""Wall time of `msma_lab.evaluate.alignment_report` on the default model's cached activations (what `msma run` does).

    python benchmarks/alignment.py [--model smollm2-135m] [--seeds 0 1 2 3 4] [--partition paper] [--out FILE]
    OMP_NUM_THREADS=1 python benchmarks/alignment.py        # the same with the thread plan capped at one thread

Full ladder (identity, random-orthogonal, Procrustes, ridge, MSMA) + ablations (no-geo, no-info, no-curv),
both directions (GI, IL), every held-out metric (Gaussian full/diag and kNN KL, KSG / InfoNCE / MINE MI each with
a shuffled-pair null, dCor, CKA, Procrustes), over the seeds. Target: under 2 minutes on 2 CPU cores with no
environment variables set. Prints one JSON object: the thread plan, total wall time, fitting time per map kind
(each map's own fit), the measuring time (per seed the maps are measured together: their MI critics train as one
stack), the extraction time (about zero when the activations are cached) and the load average before and after
(other work on the machine makes single runs vary; compare runs made back to back).
"""
import argparse, os, platform, time

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m"); ap.add_argument("--partition", default="paper")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--out", default="benchmarks/results/alignment.json", help="'' to skip the copy")
    a = ap.parse_args()
    from _common import emit
    from msma_lab.config import thread_count
    from msma_lab.extract import extract
    from msma_lab.scales import scale_map
    from msma_lab.evaluate import alignment_report
    t0 = time.perf_counter(); acts = extract(a.model, None, progress=False); t_extract = time.perf_counter() - t0
    load0 = os.getloadavg()
    t1 = time.perf_counter()
    rep = alignment_report(acts, scale_map(acts, a.partition), seeds=a.seeds, progress=False)
    wall = time.perf_counter() - t1
    runs = rep.runs
    emit(dict(benchmark="alignment", model=a.model, partition=a.partition, seeds=a.seeds, units=len(acts),
              maps=runs["map"].nunique(), directions=runs.direction.nunique(), n_test_median=float(runs.n_test.median()),
              omp_num_threads=os.environ.get("OMP_NUM_THREADS"), thread_plan=thread_count(), machine=platform.machine(),
              extract_or_cache_s=round(t_extract, 2), alignment_wall_s=round(wall, 1), target_s=120, meets_target=wall < 120,
              fit_s_total=round(runs.fit_s.sum(), 1), metric_s_total=round(runs.metric_s.sum(), 1),
              fit_s_per_map=runs.groupby("map", sort=False).fit_s.sum().round(2).to_dict(),
              metric_s_per_seed=runs.groupby("seed").metric_s.sum().round(1).to_dict(),
              loadavg_before=[round(x, 2) for x in load0], loadavg_after=[round(x, 2) for x in os.getloadavg()]), a.out)
