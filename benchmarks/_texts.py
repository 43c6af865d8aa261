"Texts for the benchmarks: the shipped corpus's sentences, made distinct and repeated to any size."


def corpus_texts(n: int) -> list[str]:
    "n distinct sentences: the shipped corpus, repeated with ' (copy k)' suffixes when it is too short"
    from msma_lab.corpus import load_corpus
    base = load_corpus().sentences.text.tolist()
    out = []
    for k in range(n // len(base) + 1):
        out += [t if k == 0 else f"{t} (copy {k + 1})" for t in base]
    return out[:n]
