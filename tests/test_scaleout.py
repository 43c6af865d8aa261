"""Scale-out on CPU: a sharded extraction under torchrun (2 processes, gloo) equals one process bit for bit and resumes
per shard; a model spread over two "devices" by a device map (accelerate: CPU and disk offload) extracts, edits and
generates exactly as on one device. The same device-map test runs across two GPUs where there are two."""
import json, os, subprocess, sys
from pathlib import Path

import numpy as np
import pytest
import torch

from msma_lab.corpus import load_corpus
from msma_lab.extract import extract
from msma_lab.intervene import Edit, generate, random_direction
from msma_lab.models import load_model

JOB = Path(__file__).with_name("shard_job.py")


def torchrun(out, cache_root, *extra, model="tiny-gpt2"):
    out.mkdir(exist_ok=True)
    for f in out.glob("rank*.json"): f.unlink()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(JOB),
                        model, str(cache_root), str(out), *extra], capture_output=True, text=True, env=env, timeout=600)
    return r, {int(f.stem[4:]): json.loads(f.read_text()) for f in out.glob("rank*.json")}


def test_torchrun_shards_equal_one_process_and_resume(tmp_path):
    one = extract("tiny-gpt2", load_corpus(), cache_root=tmp_path/"one", batch_size=8, progress=False)
    # first run: rank 1 stops after 16 of its texts, as a killed job would; torchrun then stops rank 0 too
    r, res = torchrun(tmp_path/"out1", tmp_path/"two", "--stop-rank", "1", "--stop-after", "16")
    assert r.returncode != 0 and "stopped after" in r.stdout + r.stderr, r.stderr[-2000:]
    shard1 = tmp_path/"two"/one.path.name/"shards"/"001-of-002"
    assert json.loads((shard1/"progress.json").read_text())["texts_done"] >= 16
    assert not (tmp_path/"two"/one.path.name/"manifest.json").exists()          # nothing merged from a partial run
    # the same command again: each shard resumes where it stopped, then the main process merges
    r, res = torchrun(tmp_path/"out2", tmp_path/"two")
    assert r.returncode == 0, r.stderr[-3000:]
    assert sorted(res) == [0, 1]
    assert res[1]["done"][0] > 16, res[1]["done"][:3]                           # rank 1 resumed, did not start over
    assert all(x["path"] == res[0]["path"] for x in res.values())
    two = extract("tiny-gpt2", load_corpus(), cache_root=tmp_path/"two", batch_size=8, progress=False)   # served from the merge
    assert str(two.path) == res[0]["path"] and two.path.name == one.path.name  # the single-process key
    assert not (two.path/"shards").exists()
    assert np.array_equal(np.asarray(two.stack()), np.asarray(one.stack()))    # bit for bit
    assert two.units.equals(one.units)
    assert {k: v for k, v in two.manifest.items() if k not in ("created", "checksums")} == \
           {k: v for k, v in one.manifest.items() if k not in ("created", "checksums")}
    assert two.manifest["checksums"] == one.manifest["checksums"]


SPLIT = {"model.embed_tokens": "cpu", "model.layers.0": "cpu", "model.layers.1": "cpu", "model.layers.2": "disk",
         "model.layers.3": "disk", "model.norm": "cpu", "model.rotary_emb": "cpu", "lm_head": "cpu"}


def _same_everywhere(mapped, plain, tmp_path):
    "Extraction, an edited generation and the fingerprint of `mapped` equal those of `plain`"
    texts = load_corpus().sentences.text[:40].tolist()
    a = extract(mapped, texts, cache_root=tmp_path/"mapped", batch_size=8, progress=False, attentions=True)
    b = extract(plain, texts, cache_root=tmp_path/"plain", batch_size=8, progress=False, attentions=True)
    assert a.path.name == b.path.name                         # same weights, same fingerprint, same cache key
    np.testing.assert_allclose(np.asarray(a.stack(), np.float32), np.asarray(b.stack(), np.float32), rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(a.attention(), b.attention(), rtol=1e-4, atol=1e-5)
    u = random_direction(plain, seed=3)
    edit = Edit(layers=(1, 3), op="add", direction=u, strength=2.0)
    ga = generate(mapped, texts[:4], edit, max_new_tokens=8, sample=True, seeds=(0,))
    gb = generate(plain, texts[:4], edit, max_new_tokens=8, sample=True, seeds=(0,))
    gu = generate(plain, texts[:4], None, max_new_tokens=8, sample=True, seeds=(0,))
    assert ga.steps.token_id.tolist() == gb.steps.token_id.tolist()
    np.testing.assert_allclose(ga.steps.logprob, gb.steps.logprob, rtol=1e-4, atol=1e-5)
    assert gb.steps.token_id.tolist() != gu.steps.token_id.tolist()   # the edit changed something, on both


def test_device_map_cpu_and_disk(tmp_path):
    plain = load_model("tiny-llama")
    mapped = load_model("tiny-llama", device_map=SPLIT, offload_folder=tmp_path/"offload")
    assert set(mapped.model.hf_device_map.values()) == {"cpu", "disk"}
    assert next(mapped.model.model.layers[3].parameters()).is_meta       # really offloaded: weights come in per forward
    assert str(mapped.device) == "cpu"
    _same_everywhere(mapped, plain, tmp_path)


def test_device_map_errors():
    with pytest.raises(ValueError, match="not both"): load_model("tiny-llama", device="cpu", device_map="auto")
    with pytest.raises(ValueError, match="does not give any device"): load_model("tiny-llama", device_map={"model.embed_tokens": "cpu"})
    with pytest.raises(ValueError, match="must be a dict"): load_model("tiny-llama", device_map="everywhere")


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs")
def test_device_map_two_gpus(tmp_path):
    plain = load_model("tiny-llama", device="cuda:0")
    gpus = {**{k: 0 for k in SPLIT}, "model.layers.2": 1, "model.layers.3": 1, "model.norm": 1, "lm_head": 1}
    mapped = load_model("tiny-llama", device_map=gpus)
    assert {p.device.index for p in mapped.model.parameters()} == {0, 1}
    _same_everywhere(mapped, plain, tmp_path)


def test_ray_data_route(tmp_path):
    "extract_ray: Ray Data workers run the shards, the driver merges; equal to one process (where Ray is installed)"
    ray = pytest.importorskip("ray")
    from msma_lab.extract import extract_ray
    texts = load_corpus().sentences.text[:120].tolist()
    one = extract("tiny-bert", texts, cache_root=tmp_path/"one", batch_size=8, progress=False)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}})
    try: acts = extract_ray("tiny-bert", texts, world=3, cache_root=str(tmp_path/"ray"), batch_size=8)
    finally: ray.shutdown()
    assert acts.path.name == one.path.name and not (acts.path/"shards").exists()
    assert np.array_equal(np.asarray(acts.stack()), np.asarray(one.stack()))


def test_extract_ray_refuses_a_loaded_model():
    from msma_lab.extract import extract_ray
    from msma_lab.config import SettingsError
    with pytest.raises(SettingsError, match="pass its name"): extract_ray(load_model("tiny-bert"), ["a b."], world=2)
