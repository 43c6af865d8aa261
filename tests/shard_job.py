"""One process of a sharded extraction, started by torchrun from tests/test_scaleout.py.

    torchrun --standalone --nproc_per_node 2 tests/shard_job.py MODEL CACHE_ROOT OUT_DIR [--stop-rank R --stop-after N]

Runs `extract_distributed(MODEL, <the shipped corpus>, cache_root=CACHE_ROOT)` and writes OUT_DIR/rank<k>.json: the
`done` count of every batch this process ran and the merged cache's folder. With --stop-rank, that rank stops (raises)
once N of its texts are done, as a killed job would, leaving its shard to be resumed."""
import argparse, json, os
from pathlib import Path
import torch

from msma_lab.extract import extract_distributed

p = argparse.ArgumentParser()
p.add_argument("model"); p.add_argument("cache_root"); p.add_argument("out")
p.add_argument("--stop-rank", type=int, default=-1); p.add_argument("--stop-after", type=int, default=0)
p.add_argument("--batch-size", type=int, default=8)
a = p.parse_args()
torch.set_num_threads(1)
rank, done = int(os.environ["RANK"]), []

def on_batch(n, total):
    done.append(n)
    if rank == a.stop_rank and n >= a.stop_after: raise SystemExit(f"rank {rank} stopped after {n} texts, as asked")

acts = extract_distributed(a.model, None, cache_root=a.cache_root, batch_size=a.batch_size, progress=False, on_batch=on_batch)
Path(a.out, f"rank{rank}.json").write_text(json.dumps(dict(done=done, path=str(acts.path), n=len(acts))))
