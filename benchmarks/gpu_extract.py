"""Extraction on a CUDA GPU: exactness against Hugging Face and throughput against a plain forward.

    python benchmarks/gpu_extract.py [--n 2000] [--batch-size 32]   # prints one JSON object

1. Parity: every tiny family (GPT-2, Llama, BERT, RoBERTa, T5 both stacks) on `cuda`, right and left
   padding, batch sizes 3 and 8, float32 cache, against `reference_hidden` (plain HF forward with
   output_hidden_states=True, one text at a time) on the same device; and CUDA vs CPU.
2. Throughput: a random-weight model with SmolLM2-135M's exact architecture (the real weights do not
   fit the device transfer; speed does not depend on weight values), `extract` vs the base model's
   own forward with output_hidden_states=True over the same batches, alternating, fp32 and bf16.
Run on a machine with a GPU; it exits with a message where there is none.
"""
import argparse, json, statistics, sys, tempfile, time
import torch

def parity(texts):
    from msma_lab.models import tiny_model, TINY_FAMILIES
    from msma_lab.extract import extract, reference_hidden
    out = {}
    for fam in TINY_FAMILIES:
        lm, cpu = tiny_model(fam, device="cuda"), tiny_model(fam, device="cpu")
        ref = reference_hidden(lm, texts)
        worst = 0.0
        with tempfile.TemporaryDirectory() as d:
            for side, bs in [("right", 3), ("left", 8)]:
                a = extract(lm, texts, cache_dtype="float32", padding_side=side, batch_size=bs, cache_root=f"{d}/{side}", progress=False)
                worst = max(worst, *(float(abs(a.stack(s) - ref[s]).max()) for s in a.stacks))
            c = extract(cpu, texts, cache_dtype="float32", cache_root=f"{d}/cpu", progress=False)
            g = extract(lm, texts, cache_dtype="float32", cache_root=f"{d}/gpu", progress=False)
            out[fam] = dict(max_abs_vs_hf=worst, max_abs_cuda_vs_cpu=max(float(abs(c.stack(s) - g.stack(s)).max()) for s in c.stacks))
    return out

def smollm2_shaped(dtype):
    from transformers import LlamaConfig, AutoModelForCausalLM
    from msma_lab.models import LoadedModel, tiny_tokenizer
    cfg = LlamaConfig(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
                      num_key_value_heads=3, max_position_embeddings=8192, rope_theta=100000.0, tie_word_embeddings=True,
                      architectures=["LlamaForCausalLM"])
    torch.manual_seed(0)
    m = AutoModelForCausalLM.from_config(cfg, dtype=dtype).to("cuda")
    return LoadedModel(m, tiny_tokenizer("llama"), f"smollm2-shaped-{str(dtype)[6:]}")

def throughput(texts, bs, reps=3):
    from msma_lab.extract import extract, plan_extraction, make_batch, as_corpus
    res = {}
    for dtype in (torch.float32, torch.bfloat16):
        lm = smollm2_shaped(dtype)
        plan = plan_extraction(lm, as_corpus(texts))
        segs = [s for i in plan.order for s in plan.by_text[i]]
        batches = [make_batch(lm, segs[k:k + bs]) for k in range(0, len(segs), bs)]
        base = lm.stacks["decoder"].module
        def hf():
            with torch.no_grad():
                for b in batches:
                    base(input_ids=b["input_ids"].cuda(), attention_mask=b["attention_mask"].cuda(),
                         position_ids=b["position_ids"].cuda(), output_hidden_states=True, use_cache=False)
            torch.cuda.synchronize()
        def ours(d):
            extract(lm, texts, batch_size=bs, cache_root=d, progress=False); torch.cuda.synchronize()
        t_hf, t_ours = [], []
        with tempfile.TemporaryDirectory() as d:
            hf(); ours(f"{d}/warm")
            for r in range(reps):
                t = time.perf_counter(); hf(); t_hf.append(time.perf_counter() - t)
                t = time.perf_counter(); ours(f"{d}/{r}"); t_ours.append(time.perf_counter() - t)
        ntok = sum(int(b["attention_mask"].sum()) for b in batches)
        res[str(dtype)[6:]] = dict(hf_forward_s=statistics.median(t_hf), extract_s=statistics.median(t_ours),
                                   ratio=statistics.median(t_hf) / statistics.median(t_ours), tokens=ntok,
                                   extract_tokens_per_s=ntok / statistics.median(t_ours))
    return res

if __name__ == "__main__":
    ap = argparse.ArgumentParser(); ap.add_argument("--n", type=int, default=2000); ap.add_argument("--batch-size", type=int, default=32)
    a = ap.parse_args()
    if not torch.cuda.is_available(): sys.exit("no CUDA device here")
    from msma_lab.corpus import load_corpus
    from _common import corpus_texts
    sents, texts = load_corpus().sentences.text.tolist(), corpus_texts(a.n)
    print(json.dumps(dict(device=torch.cuda.get_device_name(), torch=torch.__version__,
                          parity=parity(sents[:24] + ["Short.", "word " * 40]), throughput=throughput(texts, a.batch_size)), indent=1))
