"What the benchmark scripts share: their texts (the shipped corpus, made distinct and repeated) and their JSON output."
import json
from pathlib import Path


def corpus_texts(n: int) -> list[str]:
    "n distinct sentences: the shipped corpus, repeated with ' (copy k)' suffixes when it is too short"
    from msma_lab.corpus import load_corpus
    base = load_corpus().sentences.text.tolist()
    out = []
    for k in range(n // len(base) + 1):
        out += [t if k == 0 else f"{t} (copy {k + 1})" for t in base]
    return out[:n]


def emit(res: dict, out: str | None):
    "Print `res` as one JSON object, and write a copy to `out` (skipped when empty)"
    s = json.dumps(res, indent=1)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(s + "\n")
    print(s)
