"""The main job as a newcomer runs it: `msma run` with the README's defaults, per-stage wall times, default env vs one thread.

Runs `.venv/bin/msma run` (the console script, in a subprocess) on the default settings:

* `default`: the environment with every thread variable removed (OMP_NUM_THREADS, MKL_NUM_THREADS,
  OPENBLAS_NUM_THREADS, ...), exactly as a user who set nothing;
* `one_thread`: the same with OMP_NUM_THREADS=1 (what the tests set);

each with warm model and activation caches and `--fresh` (every stage computed, none from the stage cache), and
reports per-stage seconds (from the report's stages.csv), the total wall time of the command, and the ratio
default / one_thread per stage and in total (≈ 1 or below: msma_lab sets its own pools, so the variables no
longer matter). `--cold` adds a first run with an empty cache folder (GGUF conversion and extraction included),
`--rerun` a second default run without `--fresh` (every stage from the cache). Run it alone on the machine.
"""
import argparse, os, subprocess, sys, tempfile, time
from pathlib import Path
import pandas as pd
sys.path.insert(0, str(Path(__file__).parent))
from _common import emit

ROOT = Path(__file__).resolve().parent.parent
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


def run(args, env, out):
    "Wall seconds of `msma run ARGS --out OUT` and its per-stage table"
    t = time.time()
    r = subprocess.run([str(ROOT/".venv"/"bin"/"msma"), "run", "--no-progress", "--out", str(out), *args],
                       env=env, capture_output=True, text=True)
    wall = time.time() - t
    if r.returncode not in (0, 3): sys.exit(f"msma run failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    st = pd.read_csv(out/"stages.csv")
    return wall, st


def per_stage(st: pd.DataFrame) -> dict:
    return {f"{r.model}:{r.stage}" + (f":{r.part}" if isinstance(r.part, str) and r.part else ""): round(float(r.seconds), 2)
            for r in st.itertuples()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--args", default="", help="extra msma run flags, e.g. '--docs-per-topic 5'")
    ap.add_argument("--cold", action="store_true", help="first a run with an empty cache (conversion and extraction included)")
    ap.add_argument("--rerun", action="store_true", help="then a run that reuses every stage")
    ap.add_argument("--out", default=str(ROOT/"benchmarks"/"results"/"main_job.json"))
    a = ap.parse_args()
    user_env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    extra, res, tmp = a.args.split(), {"args": a.args}, Path(tempfile.mkdtemp())
    if a.cold:
        cold_env = user_env | {"MSMA_CACHE": str(tmp/"cold-cache")}
        wall, st = run(extra, cold_env, tmp/"cold")
        res["cold"] = dict(wall_s=round(wall, 1), stages_s=round(float(st.seconds.sum()), 1), per_stage=per_stage(st))
    else:
        run(extra, user_env, tmp/"warm")          # the model, both extractions (units and tokens) and the stage cache warm
    for name, env in (("default", user_env), ("one_thread", user_env | {"OMP_NUM_THREADS": "1"})):
        wall, st = run(extra + ["--fresh"], env, tmp/name)
        res[name] = dict(wall_s=round(wall, 1), stages_s=round(float(st.seconds.sum()), 1), per_stage=per_stage(st))
    if a.rerun:
        wall, st = run(extra, user_env, tmp/"rerun")
        res["rerun"] = dict(wall_s=round(wall, 1), cached=int((st.status == "cached").sum()), stages=len(st))
    d, o = res["default"], res["one_thread"]
    res["ratio_default_to_one_thread"] = dict(total=round(d["wall_s"] / o["wall_s"], 3),
                                              per_stage={k: round(v / o["per_stage"][k], 2) for k, v in d["per_stage"].items()
                                                         if o["per_stage"].get(k, 0) > 0.5})
    res["targets"] = dict(default_wall_s_max=240, cold_wall_s_max=360, met=d["wall_s"] <= 240 and
                          (not a.cold or res["cold"]["wall_s"] <= 360))
    emit(res, a.out)


if __name__ == "__main__":
    main()
