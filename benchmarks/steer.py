"""Cost of an edit during generation: `generate` under an edit against plain `generate`, same prompts, same tokens.

    python benchmarks/steer.py [--model smollm2-135m] [--prompts 16] [--tokens 40] [--repeats 3] [--out FILE]
    bash benchmarks/peers_env.sh && .venv-peers/bin/python benchmarks/steer.py      # with nnsight beside it

Both runs sample with the same (seed, prompt, step) random numbers and generate exactly `--tokens` tokens per prompt
(`min_new_tokens`: no early EOS), so the ratio is the hooks' cost alone. The edit adds a unit direction across the
intermediate band (every state of it, every position). Target: ratio ≤ 1.05. Runs alternate (plain, edited, nnsight,
plain, ...) and the median of `--repeats` is kept, so a slow spell on the machine hits every variant.

When nnsight is importable (it is not a dependency: `benchmarks/peers_env.sh` installs it into `.venv-peers`), the
same edit is written the way nnsight's documentation writes steering — `model.generate(...)` traced, the vector added to
each block's output at every generation step — on the same left-padded batch with the same sampler, and timed beside
ours (its own ratio to plain generation). Its tokens are compared with ours: the two implementations of one edit must
agree token for token.
"""
import argparse, os, statistics, time, warnings


def nnsight_runner(lm, prompts, adds: dict, tokens: int, seed: int = 0):
    "A function that generates `prompts` with nnsight, adding adds[l] to hidden state l at every step; returns (seconds, new ids)"
    from nnsight import TransformersModel
    from transformers import LogitsProcessorList
    from msma_lab.intervene import GumbelSampler, _gen_config
    from msma_lab.config import load_settings
    warnings.filterwarnings("ignore", module="nnsight")
    nm, s = TransformersModel(lm.model, tokenizer=lm.tokenizer, task="text-generation"), load_settings()
    names = {m: n for n, m in lm.model.named_modules()}
    def envoy(path):                                  # the nnsight envoy of a module of the HF model, by its dotted path
        e = nm
        for part in path.split("."): e = e[int(part)] if part.isdigit() else getattr(e, part)
        return e
    blocks = lm.stacks[next(iter(lm.stacks))].blocks
    if 0 in adds: raise ValueError("the benchmark's edit must not touch hidden state 0 (the embeddings)")
    at = [(envoy(names[blocks[l - 1]]), v) for l, v in sorted(adds.items())]   # hidden state l = output of block l − 1
    enc = lm.tokenizer.pad({"input_ids": lm.tokenizer(list(prompts))["input_ids"]}, padding_side="left", return_tensors="pt")
    W, cfg = enc["input_ids"].shape[1], _gen_config(lm, tokens, True, min_new_tokens=tokens)
    def run():
        t = time.perf_counter()
        with nm.generate({"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}, generation_config=cfg,
                         logits_processor=LogitsProcessorList([GumbelSampler(list(prompts), seed, W, s.temperature, s.top_p)])) as tracer:
            for _ in tracer.iter[:tokens]:            # one forward per new token
                for e, v in at: e.output = e.output + v
            out = tracer.result.save()
        seq = out.sequences if hasattr(out, "sequences") else out
        return time.perf_counter() - t, seq[:, W:].tolist()
    return run


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--tokens", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default="benchmarks/results/steer.json", help="'' to skip the copy")
    a = ap.parse_args()
    from _common import emit
    from msma_lab.config import thread_count, work_threads
    from msma_lab.intervene import Edit, generate, load_prompts, random_direction, band_norms, resolve
    from msma_lab.models import load_model
    lm = load_model(a.model)
    band_norms(lm)                                      # measured once (cached), not inside the timing
    P = load_prompts().text.tolist()[:a.prompts]
    edit = Edit("intermediate", op="add", direction=random_direction(lm, seed=0), strength=0.5)
    def run(e):
        t = time.perf_counter()
        g = generate(lm, P, e, max_new_tokens=a.tokens, sample=True, batch_size=len(P), min_new_tokens=a.tokens)
        return time.perf_counter() - t, [g.token_ids(f"p{i}") for i in range(len(P))]
    try:
        import nnsight
        plan = resolve(lm, edit)[next(iter(lm.stacks))]
        peer = nnsight_runner(lm, P, {l: sum(s * rho * u for _, u, rho, s in v) for l, v in plan.items()}, a.tokens)
        peer_note = f"nnsight {nnsight.__version__}"
    except ImportError:
        peer, peer_note = None, "not installed (bash benchmarks/peers_env.sh, then run this with .venv-peers/bin/python)"
    load0 = os.getloadavg()
    with work_threads():
        run(None); run(edit)                            # warm-up
        if peer: peer()
        plain, edited, nns = [], [], []
        for _ in range(a.repeats):
            plain.append(run(None)); edited.append(run(edit))
            if peer: nns.append(peer())
    med = lambda xs: statistics.median(x for x, _ in xs)
    tp, te = med(plain), med(edited)
    res = dict(model=a.model, prompts=len(P), max_new_tokens=a.tokens, repeats=a.repeats, threads=thread_count(),
               tokens_plain=sum(map(len, plain[0][1])), tokens_edited=sum(map(len, edited[0][1])), plain_s=round(tp, 3),
               edited_s=round(te, 3), ratio=round(te / tp, 3), target=1.05, nnsight=peer_note)
    if peer:
        res |= dict(nnsight_edited_s=round(med(nns), 3), nnsight_ratio=round(med(nns) / tp, 3),
                    nnsight_vs_msma=round(med(nns) / te, 3), nnsight_same_tokens=nns[0][1] == edited[0][1])
    res |= dict(load_before=load0, load_after=os.getloadavg())
    emit(res, a.out)
