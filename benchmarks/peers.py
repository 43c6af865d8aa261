"""msma_lab side by side with the peers a user would pick instead (nnsight, TransformerLens): extraction time, peak
memory and equality of the pooled states, and the cost of an edit during generation.

What it measures
----------------
For each model (``--models``, default ``smollm2-135m minilm-l6``) and N sentences of the shipped corpus (``--n``;
default 256 for SmolLM2, 512 for MiniLM, as in ``extract_throughput.py``), in ONE process, on the CPU:

1. **Extraction.** Every method gets the *same* batches: the texts, length-sorted order, batch size (``--batch-size``,
   default 16) and right padding that ``plan_extraction`` + ``make_batch`` produce (built once, beforehand, as in
   ``extract_throughput.py``), and every method ends with every hidden state mean-pooled over the batch's real tokens
   (``keep``) as float32 ``[layers, batch, d]``:

   * ``plain`` -- the baseline: the base module (``lm.stacks[...].module``, no LM head) called with
     ``output_hidden_states=True`` (same ``position_ids`` / ``use_cache=False`` extract passes) under ``no_grad``,
     then the pooling.
   * ``msma`` -- ``extract(lm, texts, granularity="sentence", batch_size=16, cache_root=<fresh dir>, progress=False,
     cache_dtype="float16")``: everything a user pays for (tokenisation, planning, hooks, pooling, cache writes,
     fsync, checksums, the weight fingerprint, opening the result). A fresh cache_root per run: never a cache hit.
   * ``nnsight`` -- nnsight's ``NNsight`` wrapping the *same* base module object; one ``trace`` per batch (same
     inputs as ``plain``) that saves block 0's input and every block's output (the last one replaced by the final
     norm's output where the model has one, which is what HF's ``hidden_states`` holds), then the pooling.
   * ``transformer_lens`` -- TransformerLens 4's ``TransformerBridge`` (4.x removed ``HookedTransformer`` /
     ``HookedEncoder``): ``boot_transformers(<official name>, hf_model=<a copy of lm.model>, tokenizer=lm.tokenizer)``
     (a copy, because booting switches the model it is given to eager attention in place), and where that fails,
     ``boot_transformers(<the model's local folder>)`` -- the exact error of the first attempt is kept in the JSON.
     Then ``run_with_cache(input_ids, attention_mask=..., names_filter=[blocks.0.hook_resid_pre,
     blocks.i.hook_resid_post..., ln_final.hook_out where the model has a final norm], return_type=None)`` per
     batch, then the pooling. The bridge runs the whole HF model it wraps (LM head / MLM head included), as a
     TransformerLens user's call does. For MiniLM (a ``BertModel``, no MLM head) the bridge only accepts
     ``BertForMaskedLM``, so the fallback loads the same encoder weights plus a newly initialised MLM head, whose
     output nobody reads; the pooled states are still the encoder's and are checked.

   One warm-up round (which also checks every peer's pooled states against ``plain``: ``max_rel_diff_vs_plain`` =
   max over layers and batches of ``max|method - plain| / max(1, max|plain|)``; msma's comes from its float16
   cache), then ``--reps`` (default 5) rounds alternating plain / msma / nnsight / transformer_lens, so background
   load hits all alike. Reported per method: median seconds, tokens/s (real tokens), ``time_ratio_vs_plain`` =
   median(method) / median(plain) (1.10 = 10% slower than the plain forward), every round's seconds, and the
   one-off setup (wrapping / booting; not in the timings). A peer that is not importable says ``"not installed"``;
   one that cannot load a model gives the exception text instead of numbers.

2. **Peak memory.** Each extraction method once more, each in a FRESH subprocess (this script with a hidden
   ``--one METHOD --models M``): load the model, build the batches and the peer's wrapper, run the method once (the
   warm-up; msma computes the fingerprint there), then ``gc.collect()``, reset the peak (``echo 5 >
   /proc/self/clear_refs``), read VmRSS, run it again and read ``VmHWM``: ``peak_mb`` = VmHWM − that VmRSS
   (MB = 2**20 bytes; the method's own extra peak above the loaded, warmed model). ``--no-memory`` skips this.

3. **Edited generation** (SmolLM2): ``benchmarks/steer.py`` run as a subprocess with this interpreter (its
   measurement lives in its ``__main__``), its JSON included as is under ``steer``: msma's edited ``generate``
   against plain ``generate`` and, where nnsight is installed, the same edit written the nnsight way.
   ``--steer-prompts/--steer-tokens/--steer-repeats`` are passed through (defaults 16 / 40 / 3, steer.py's own);
   ``--no-steer`` skips it.

Targets (``targets`` in the JSON; null where a peer is missing): msma's extraction median ≤ nnsight's (≥ 1.0×
nnsight's speed), msma ≥ 1.05× TransformerLens's speed, and edited generation ≤ 1.05× plain ``generate``.

Run (from the repository root; the peers live in ``.venv-peers``, never in the project's dependencies)::

    bash benchmarks/peers_env.sh            # once: msma_lab + nnsight 0.8.1 + transformer_lens 4.3.0 in .venv-peers
    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 .venv-peers/bin/python benchmarks/peers.py --markdown
    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 .venv-peers/bin/python benchmarks/peers.py --models minilm-l6 --n 64 --reps 1 --no-steer
    .venv-peers/bin/python benchmarks/peers.py --from benchmarks/results/peers.json     # the table of a saved run

With ``.venv/bin/python`` it runs too; the nnsight and TransformerLens rows then say ``"not installed"``.
Prints one JSON object; also writes it to benchmarks/results/peers.json (``--out ''`` for none). ``--markdown``
then prints a table (model | method | median s | tokens/s | time ratio vs plain | peak MB | max rel diff) after it.
"""
from __future__ import annotations
import argparse, copy, gc, importlib.metadata, importlib.util, json, os, platform, shutil, statistics, subprocess, sys, time, warnings
from pathlib import Path
import numpy as np
import torch

from msma_lab.models import load_model
from msma_lab.extract import as_corpus, make_batch, plan_extraction
from _common import corpus_texts, emit                               # benchmarks/ is on sys.path (scripts run from it)
from extract_throughput import DEFAULT_N, base_kwargs, run_base, run_extract
from extract_memory import reset_peak, status_kb

RESULTS = Path(__file__).resolve().parent/"results"
METHODS = ["plain", "msma", "nnsight", "transformer_lens"]
PEERS = {"nnsight": "nnsight", "transformer_lens": "transformer_lens"}   # method -> importable module / distribution
NOT_INSTALLED = "not installed (bash benchmarks/peers_env.sh, then run this with .venv-peers/bin/python)"
OFFICIAL = {"smollm2-135m": "HuggingFaceTB/SmolLM2-135M-Instruct", "minilm-l6": "sentence-transformers/all-MiniLM-L6-v2"}
TARGETS = dict(msma_vs_nnsight_speed=1.0, msma_vs_transformer_lens_speed=1.05, edited_generation_ratio=1.05)


def _err(e: BaseException) -> str: return f"{type(e).__name__}: {e}".strip()[:2000]


def _version(dist: str):
    try: return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError: return None


def pool(hidden, keep) -> torch.Tensor:
    "Every hidden state [B,T,d] mean-pooled over the real tokens (`keep`): float32 [layers, B, d]"
    w = keep.float()
    n = w.sum(1, keepdim=True)
    return torch.stack([torch.einsum("bt,btd->bd", w, (h[0] if isinstance(h, tuple) else h).float()) / n for h in hidden])


def rel_diff(a: torch.Tensor, ref: torch.Tensor) -> float:
    "max over layers of max|a - ref| / max(1, max|ref|) (extract_throughput.py's measure), for [layers, B, d]"
    a, ref = torch.as_tensor(a, dtype=torch.float32), torch.as_tensor(ref, dtype=torch.float32)
    return max(float((x - r).abs().max() / max(1.0, float(r.abs().max()))) for x, r in zip(a, ref))


class Bench:
    "One model, its batches, and the methods that turn them into pooled hidden states"
    def __init__(self, name: str, n: int, batch_size: int, tmp):
        t = time.perf_counter(); self.lm = lm = load_model(name); self.load_s = time.perf_counter() - t
        self.name, self.batch_size, self.tmp = name, batch_size, tmp
        self.texts = corpus_texts(n)
        # the exact batches extract() runs: same plan (length-sorted order), same make_batch, right padding
        plan = plan_extraction(lm, as_corpus(self.texts), "sentence")
        self.segs = [s for i in plan.order for s in plan.by_text[i]]
        self.batches = [make_batch(lm, self.segs[k:k + batch_size], "right") for k in range(0, len(self.segs), batch_size)]
        self.tokens = int(sum(int(b["attention_mask"].sum()) for b in self.batches))
        self.padded = int(sum(b["input_ids"].numel() for b in self.batches))
        self.kw = base_kwargs(lm)
        stack = next(iter(lm.stacks.values()))
        self.base, self.blocks = stack.module, stack.blocks
        # HF's hidden_states: block 0's input, blocks 0..n-2's outputs, and the last block's output -- or, where the
        # base module has a final norm (Llama family), that norm's output instead
        self.final_norm = isinstance(getattr(self.base, "norm", None), torch.nn.Module)
        self.info, self.runners = {}, {}

    def extra(self, b) -> dict:
        "The keyword arguments extract / plain pass to the base module besides ids and mask"
        e = {}
        if self.kw["pos"]: e["position_ids"] = b["position_ids"]
        if self.kw["use_cache"]: e["use_cache"] = False
        return e

    # -- the methods: each setup_* stores a runner () -> (seconds, result) -----------------------------------------
    def setup(self, method: str):
        "Build the method's runner; returns None, or why it cannot run (not installed / the load error)"
        if method in PEERS and importlib.util.find_spec(PEERS[method]) is None: return NOT_INSTALLED
        t = time.perf_counter()
        try: getattr(self, f"setup_{method}")()
        except Exception as e: return _err(e)
        self.info.setdefault(method, {})["setup_s"] = round(time.perf_counter() - t, 3)
        return None

    def setup_plain(self):
        def run():
            t, out = time.perf_counter(), []
            for b in self.batches: out.append(pool(run_base(self.lm, [b], self.kw).hidden_states, b["keep"]))
            return time.perf_counter() - t, out
        self.runners["plain"] = run
        self.info["plain"] = dict(how="base module, output_hidden_states=True, no_grad",
                                  attn_implementation=self.lm.config._attn_implementation)

    def setup_msma(self):
        def run(keep=False):
            dt, acts, root = run_extract(self.lm, self.texts, self.batch_size, self.tmp, keep=keep)
            return dt, (acts, root)
        self.runners["msma"] = run
        self.info["msma"] = dict(how='extract(lm, texts, "sentence", batch_size, cache_root=<fresh>, progress=False, cache_dtype="float16")',
                                 attn_implementation=self.lm.config._attn_implementation)

    def setup_nnsight(self):
        import nnsight
        warnings.filterwarnings("ignore", module="nnsight")
        nm = nnsight.NNsight(self.base)                        # the same module object plain runs
        names = {m: n for n, m in self.base.named_modules()}
        def envoy(path):                                       # the envoy of a submodule, by its dotted path
            e = nm
            for part in path.split("."): e = e[int(part)] if part.isdigit() else getattr(e, part)
            return e
        first, blocks = envoy(names[self.blocks[0]]), [envoy(names[m]) for m in self.blocks]
        last = nm.norm if self.final_norm else blocks[-1]

        def trace(b):
            with nm.trace(input_ids=b["input_ids"], attention_mask=b["attention_mask"], **self.extra(b)):
                hs = [first.input] + [e.output for e in blocks[:-1]] + [last.output]
                hs = nnsight.save(hs)
            return hs

        def run():
            t, out = time.perf_counter(), []
            with torch.no_grad():
                for b in self.batches: out.append(pool(trace(b), b["keep"]))
            return time.perf_counter() - t, out
        self.runners["nnsight"] = run
        self.info["nnsight"] = dict(version=nnsight.__version__, attn_implementation=self.lm.config._attn_implementation,
                                    how="NNsight(base module); per batch one trace saving block 0's input and every block's "
                                        "output" + (" (the last replaced by norm's output)" if self.final_norm else ""))

    def setup_transformer_lens(self):
        import logging
        from transformer_lens.model_bridge import TransformerBridge
        logging.getLogger("root").setLevel(logging.ERROR)
        official = OFFICIAL.get(self.name, self.lm.model.name_or_path)
        info = dict(version=_version("transformer_lens"))
        try:
            br = TransformerBridge.boot_transformers(official, hf_model=copy.deepcopy(self.lm.model), tokenizer=self.lm.tokenizer,
                                                     device="cpu")
            info["how"] = f"TransformerBridge.boot_transformers({official!r}, hf_model=<copy of lm.model>, tokenizer=lm.tokenizer)"
        except Exception as e:
            info["hf_model_error"] = _err(e)
            folder = self.lm.model.name_or_path
            br = TransformerBridge.boot_transformers(folder, tokenizer=self.lm.tokenizer, device="cpu")
            info["how"] = (f"TransformerBridge.boot_transformers(<{Path(folder).name} folder>, tokenizer=lm.tokenizer) "
                           "(hf_model=<copy of lm.model> failed: see hf_model_error)")
        hf = br.original_model
        info |= dict(hf_class=type(hf).__name__, attn_implementation=getattr(hf.config, "_attn_implementation", None))
        if type(hf) is not type(self.lm.model):
            info["note"] = (f"TransformerLens runs a {type(hf).__name__} (lm.model is a {type(self.lm.model).__name__}): the same "
                            "weights from the same folder, plus whatever head that class adds, newly initialised")
        nb = len(self.blocks)
        hooks = (["blocks.0.hook_resid_pre"] + [f"blocks.{i}.hook_resid_post" for i in range(nb - 1)]
                 + ["ln_final.hook_out" if self.final_norm else f"blocks.{nb - 1}.hook_resid_post"])
        info["hooks"] = f"{hooks[0]}, blocks.{{0..{nb - 2}}}.hook_resid_post, {hooks[-1]}"

        def run():
            t, out = time.perf_counter(), []
            with torch.no_grad():
                for b in self.batches:
                    _, cache = br.run_with_cache(b["input_ids"], attention_mask=b["attention_mask"], names_filter=hooks,
                                                 return_type=None)
                    out.append(pool([cache[h] for h in hooks], b["keep"]))
                    del cache
            return time.perf_counter() - t, out
        self.runners["transformer_lens"] = run
        self.info["transformer_lens"] = info

    # -- checks -----------------------------------------------------------------------------------------------------
    def msma_rel_diff(self, acts, plain_out) -> float:
        "msma's cached layers (float16) against plain's pooled states, every unit"
        ref = torch.cat(plain_out, dim=1)                      # [layers, units in batch order, d]
        idx = [s.text_index for s in self.segs]                # one unit per sentence, row = text index
        got = np.stack([acts.layer(l)[idx] for l in range(ref.shape[0])])
        return rel_diff(torch.from_numpy(got.astype(np.float32)), ref)


def bench_model(name, n, batch_size, reps, tmp, methods) -> dict:
    B = Bench(name, n, batch_size, tmp)
    status = {m: B.setup(m) for m in methods}
    live = [m for m in methods if status[m] is None]
    if "plain" not in live: raise RuntimeError(f"the plain baseline failed: {status['plain']}")

    # warm-up round + the checks against plain
    warm, diffs = {}, {}
    _, plain_out = B.runners["plain"]()
    for m in live:
        if m == "msma":
            warm[m], (acts, root) = B.runners["msma"](keep=True)
            try: diffs[m] = B.msma_rel_diff(acts, plain_out)
            finally: del acts; shutil.rmtree(root, ignore_errors=True)
        else:
            warm[m], out = B.runners[m]()
            diffs[m] = max(rel_diff(o, p) for o, p in zip(out, plain_out))
    del plain_out

    times = {m: [] for m in live}
    for _ in range(reps):
        for m in live:
            dt, _res = B.runners[m]()
            times[m].append(dt); del _res
    gc.collect()

    med = {m: statistics.median(v) for m, v in times.items()}
    rows = {}
    for m in methods:
        if status[m] is not None: rows[m] = dict(status=status[m]); continue
        rows[m] = dict(median_s=round(med[m], 4), tokens_per_s=round(B.tokens / med[m], 1),
                       time_ratio_vs_plain=round(med[m] / med["plain"], 4), times_s=[round(x, 4) for x in times[m]],
                       warmup_s=round(warm[m], 4), max_rel_diff_vs_plain=(None if m == "plain" else float(f"{diffs[m]:.3g}")),
                       **B.info.get(m, {}))
    speed = lambda peer: round(med[peer] / med["msma"], 4) if peer in med and "msma" in med else None
    return dict(n_texts=len(B.texts), batch_size=batch_size, n_batches=len(B.batches), tokens=B.tokens, padded_tokens=B.padded,
                n_hidden=B.lm.n_hidden, d_model=B.lm.d_model, model_load_s=round(B.load_s, 3), methods=rows,
                msma_speed_vs_nnsight=speed("nnsight"), msma_speed_vs_transformer_lens=speed("transformer_lens"))


def one(method, name, n, batch_size, tmp) -> dict:
    "Child process: the method's own extra peak RSS on a loaded, warmed model"
    mb = lambda kb: round(kb / 1024, 1)
    B = Bench(name, n, batch_size, tmp)
    rss_load = status_kb("VmRSS")
    why = B.setup(method)
    if why: return dict(method=method, model=name, status=why)
    run = B.runners[method]
    def once():
        dt, res = run()
        if method == "msma": shutil.rmtree(res[1], ignore_errors=True)
        return dt
    once()                                                      # warm-up (msma: the fingerprint)
    gc.collect()
    can_reset = reset_peak()                                    # VmHWM := the current RSS ...
    rss0 = status_kb("VmRSS")                                   # ... which is read right after, as repeat_memory.py does
    dt = once()
    hwm = status_kb("VmHWM")
    return dict(method=method, model=name, rss_after_load_mb=mb(rss_load), rss_before_run_mb=mb(rss0),
                peak_run_mb=mb(hwm) if can_reset else None, peak_mb=mb(hwm - rss0) if can_reset else None,
                hwm_reset_supported=can_reset, run_s=round(dt, 3))


def memory(methods: dict, ns, batch_size, tmp) -> dict:
    "{model: [methods]} -> {model: {method: one()'s result}}, one fresh subprocess each, one at a time"
    out = {}
    for name, ms in methods.items():
        out[name] = {}
        for m in ms:
            cmd = [sys.executable, __file__, "--one", m, "--models", name, "--n", str(ns[name]), "--batch-size", str(batch_size)]
            if tmp: cmd += ["--tmp", tmp]
            r = subprocess.run(cmd, capture_output=True, text=True)
            try: out[name][m] = json.loads(r.stdout.strip().splitlines()[-1])
            except (IndexError, json.JSONDecodeError): out[name][m] = dict(status=f"child failed (rc {r.returncode}): {r.stderr.strip()[-1500:]}")
    return out


def steer(a) -> dict:
    "benchmarks/steer.py in a subprocess with this interpreter; its JSON as is"
    cmd = [sys.executable, str(Path(__file__).resolve().parent/"steer.py"), "--model", a.steer_model, "--prompts", str(a.steer_prompts),
           "--tokens", str(a.steer_tokens), "--repeats", str(a.steer_repeats), "--out", ""]
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
    lines = r.stdout.splitlines()
    try:
        start = max(i for i, l in enumerate(lines) if l == "{")    # emit prints json.dumps(indent=1): a bare "{" opens it
        res = json.loads("\n".join(lines[start:]))
    except (ValueError, json.JSONDecodeError):
        return dict(status=f"steer.py failed (rc {r.returncode}): {r.stderr.strip()[-1500:]}", command=" ".join(cmd))
    return res | dict(command=" ".join(cmd[1:]), wall_s=round(time.perf_counter() - t, 1))


def markdown(res: dict) -> str:
    f = lambda x, fmt: "—" if x is None else format(x, fmt)
    lines = ["| model | method | median s | tokens/s | time ratio vs plain | peak MB | max rel diff |", "|---|---|---|---|---|---|---|"]
    for name, r in res["models"].items():
        for m, row in r["methods"].items():
            mem = res.get("memory", {}).get(name, {}).get(m, {})
            label = m + (f" {row['version']}" if row.get("version") else "")
            if "median_s" not in row:
                lines.append(f"| {name} | {label} | {row['status'][:160].replace('|', '/')} | | | | |"); continue
            lines.append(f"| {name} | {label} | {row['median_s']:.3f} | {row['tokens_per_s']:.0f} | {row['time_ratio_vs_plain']:.3f} | "
                         f"{f(mem.get('peak_mb'), '.1f')} | {f(row['max_rel_diff_vs_plain'], '.2g')} |")
    s = res.get("steer")
    if s and "ratio" in s:
        lines += ["", "| edited generation (SmolLM2) | seconds | ratio vs plain generate |", "|---|---|---|",
                  f"| plain `generate` | {s['plain_s']} | 1 |", f"| msma edited `generate` | {s['edited_s']} | {s['ratio']} |"]
        if "nnsight_edited_s" in s:
            lines.append(f"| nnsight edited generate (same tokens: {s['nnsight_same_tokens']}) | {s['nnsight_edited_s']} | {s['nnsight_ratio']} |")
    t = res.get("targets", {})
    if t: lines += ["", "targets: " + ", ".join(f"{k} = {v}" for k, v in t.items())]
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", default=["smollm2-135m", "minilm-l6"])
    p.add_argument("--n", type=int, default=0, help="sentences per model (0: 256 for smollm2-135m, 512 for minilm-l6)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--reps", type=int, default=5, help="timed rounds of every method (after 1 warm-up round)")
    p.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS, help="plain is always run")
    p.add_argument("--no-memory", action="store_true", help="skip the per-method peak-memory subprocesses")
    p.add_argument("--no-steer", action="store_true", help="skip benchmarks/steer.py (edited generation)")
    p.add_argument("--steer-model", default="smollm2-135m")
    p.add_argument("--steer-prompts", type=int, default=16)
    p.add_argument("--steer-tokens", type=int, default=40)
    p.add_argument("--steer-repeats", type=int, default=3)
    p.add_argument("--tmp", default=None, help="parent folder of the throw-away cache roots (default: system temp)")
    p.add_argument("--out", default=str(RESULTS/"peers.json"), help="also write the JSON here ('' for none)")
    p.add_argument("--markdown", action="store_true", help="after the JSON, print the markdown table")
    p.add_argument("--from", dest="from_json", default=None, help="print the markdown table of a saved JSON and exit")
    p.add_argument("--one", default=None, choices=METHODS, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.from_json:
        print(markdown(json.loads(Path(a.from_json).read_text()))); return
    torch.manual_seed(0)
    ns = {m: a.n or DEFAULT_N.get(m, 256) for m in a.models}
    if a.one:
        print(json.dumps(one(a.one, a.models[0], ns[a.models[0]], a.batch_size, a.tmp))); return
    methods = ["plain"] + [m for m in METHODS[1:] if m in a.methods]
    t0, load0 = time.perf_counter(), os.getloadavg()
    res = dict(benchmark="peers", date=time.strftime("%Y-%m-%d %H:%M:%S"), python=platform.python_version(),
               interpreter=sys.executable, torch=torch.__version__, transformers=_version("transformers"),
               nnsight=_version("nnsight") or NOT_INSTALLED, transformer_lens=_version("transformer_lens") or NOT_INSTALLED,
               torch_threads=torch.get_num_threads(), cpus=os.cpu_count(), omp_num_threads=os.environ.get("OMP_NUM_THREADS"),
               reps=a.reps, models={})
    for m in a.models: res["models"][m] = bench_model(m, ns[m], a.batch_size, a.reps, a.tmp, methods)
    if not a.no_memory:                                         # the methods that ran (not the missing peers)
        res["memory"] = memory({m: [k for k, row in r["methods"].items() if "median_s" in row] for m, r in res["models"].items()},
                               ns, a.batch_size, a.tmp)
    if not a.no_steer: res["steer"] = steer(a)
    cmp = lambda key, target: {m: (None if r[key] is None else bool(r[key] >= target)) for m, r in res["models"].items()}
    st = res.get("steer", {})
    res["targets"] = dict(msma_time_le_nnsight=cmp("msma_speed_vs_nnsight", TARGETS["msma_vs_nnsight_speed"]),
                          msma_ge_1_05x_transformer_lens_speed=cmp("msma_speed_vs_transformer_lens", TARGETS["msma_vs_transformer_lens_speed"]),
                          edited_generation_le_1_05x_plain=(bool(st["ratio"] <= TARGETS["edited_generation_ratio"]) if "ratio" in st else None))
    res |= dict(wall_s=round(time.perf_counter() - t0, 1), load_before=load0, load_after=os.getloadavg())
    emit(res, a.out)
    if a.markdown: print("\n" + markdown(res))


if __name__ == "__main__":
    main()
