"""Wall time of the full alignment evaluation on the default model's cached activations.

    python benchmarks/alignment.py [--model smollm2-135m] [--seeds 0 1 2 3 4] [--partition paper]

Full ladder (identity, random-orthogonal, Procrustes, ridge, MSMA) + ablations (no-geo, no-info,
no-curv), both directions (GI, IL), every held-out metric (Gaussian full/diag and kNN KL, KSG /
InfoNCE / MINE MI each with a shuffled-pair null, dCor, CKA, Procrustes), over the seeds. Target:
under 5 minutes on 2 CPU cores. Prints one JSON object: total wall time and its breakdown (fitting
per map kind, metrics per map), plus the extraction time (zero when the activations are cached).
"""
import argparse, json, time, platform
import torch

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m"); ap.add_argument("--partition", default="paper")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    a = ap.parse_args()
    from msma_lab.extract import extract
    from msma_lab.scales import scale_map
    from msma_lab.evaluate import alignment_runs
    t0 = time.perf_counter(); acts = extract(a.model, None, progress=False); t_extract = time.perf_counter() - t0
    t1 = time.perf_counter()
    runs = alignment_runs(acts, scale_map(acts, a.partition), seeds=a.seeds, ablations=True, progress=False)
    wall = time.perf_counter() - t1
    per_map = runs.groupby("map", sort=False)[["fit_s", "metric_s"]].sum().round(2)
    print(json.dumps(dict(benchmark="alignment", model=a.model, partition=a.partition, seeds=a.seeds, units=len(acts),
        n_test_median=float(runs.n_test.median()), threads=torch.get_num_threads(), machine=platform.machine(),
        extract_or_cache_s=round(t_extract, 2), alignment_wall_s=round(wall, 2), target_s=300, meets_target=wall < 300,
        fit_s_total=round(runs.fit_s.sum(), 2), metric_s_total=round(runs.metric_s.sum(), 2),
        per_map={k: v for k, v in per_map.to_dict("index").items()}), indent=1))
