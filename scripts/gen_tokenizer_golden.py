#!/usr/bin/env python3
"""Golden token ids from the reference tokenizer (Hugging Face `tokenizers`, as used by
sentence-transformers) for every line of every text file in ../shared/data.

For each case it runs the case's shell command in shared/data to make the input lines
(exactly what tests/tokenizer_golden.sh pipes into `sentembed tokenize`), tokenizes them
with the reference in single or pair mode, uncased (lowercase + strip accents) and cased
(neither), at max_length 512 and 128, and writes tests/fixtures/tokenizer/NAME.golden.xz:

    #config uncased 512   one line of ids per input line
    #config uncased 128   "LINE<TAB>ids" only where it differs from uncased 512
    #config cased 512     "LINE<TAB>ids" only where it differs from uncased 512
    #config cased 128     "LINE<TAB>ids" only where it differs from cased 512

(the first max length of a case is its base; tricky.txt, hand-written edge cases, is
also run at small lengths so every truncation branch is taken).

Every line left out is the reference's own output too: the base it falls back to is
identical, line for line (a config is only stored as differences from the reference's
output for another config). That keeps the fixtures small.

Files that are not valid UTF-8 are decoded with errors="replace" and tested with
--utf8-errors=replace. Pair mode covers the sentence-pair data sets (their two text
columns) and the Unicode stress files (consecutive lines, `paste - -`).

plus manifest.tsv (name, tokenizer, flags or "-", max lengths, command) that the test
reads. Commands see $FIXTURES, the fixture directory.
Usage: python3 scripts/gen_tokenizer_golden.py [SHARED_DATA_DIR]   (needs `pip install tokenizers`)
"""
import lzma
import os
import subprocess
import sys

import tokenizers
from tokenizers import BertWordPieceTokenizer, Tokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "tokenizer")
VOCAB = "vocab/bert-base-uncased-vocab.txt"
MINILM = "minilm-config"

# Sentence pairs where the data has them; `paste - -` (consecutive lines) elsewhere.
NATURAL_PAIRS = {
    "stsb/sts-train.csv": "cut -f6,7 stsb/sts-train.csv",
    "stsb/sts-dev.csv": "cut -f6,7 stsb/sts-dev.csv",
    "nli/snli/s1.dev": "paste nli/snli/s1.dev nli/snli/s2.dev",
    "nli/snli/s1.test": "paste nli/snli/s1.test nli/snli/s2.test",
    "nli/sick/SICK_train.txt": "cut -f2,3 nli/sick/SICK_train.txt",
    "nli/sick/SICK_trial.txt": "cut -f2,3 nli/sick/SICK_trial.txt",
    "nli/sick/SICK_test_annotated.txt": "cut -f2,3 nli/sick/SICK_test_annotated.txt",
    "pairs/mrpc/msr-para-train.tsv": "cut -f4,5 pairs/mrpc/msr-para-train.tsv",
    "pairs/mrpc/msr-para-val.tsv": "cut -f4,5 pairs/mrpc/msr-para-val.tsv",
    "pairs/mrpc/msr-para-test.tsv": "cut -f4,5 pairs/mrpc/msr-para-test.tsv",
}


def case_name(rel, mode):
    return rel.replace("/", "_").replace(".", "_") + "." + mode


def cases(data):
    out = []
    for dirpath, _, files in sorted(os.walk(data)):
        for f in sorted(files):
            rel = os.path.relpath(os.path.join(dirpath, f), data)
            out.append((case_name(rel, "single"), "vocab", "", "cat " + rel))
            if rel in NATURAL_PAIRS:
                out.append((case_name(rel, "pair"), "vocab", "--pair", NATURAL_PAIRS[rel]))
            elif rel.startswith("unicode/"):
                out.append((case_name(rel, "pair"), "vocab", "--pair", "paste - - < " + rel))
    # The model-directory path (tokenizer.json + tokenizer_config.json) on real text too.
    out.append(("minilm_snli_dev.pair", "model", "--pair", NATURAL_PAIRS["nli/snli/s1.dev"]))
    out.append(("minilm_blns.single", "model", "", "cat unicode/blns.txt"))
    out = [(n, s, f, "512 128", c) for n, s, f, c in out]
    tricky_lengths = "512 128 16 15 4 3"
    out.append(("tricky.single", "vocab", "", tricky_lengths, 'cat "$FIXTURES/tricky.txt"'))
    out.append(("tricky.pair", "vocab", "--pair", tricky_lengths, 'awk \'index($0, "\\t")\' "$FIXTURES/tricky.txt"'))
    out.append(("minilm_tricky.single", "model", "", tricky_lengths, 'cat "$FIXTURES/tricky.txt"'))
    return out


def input_lines(data, cmd):
    env = dict(os.environ, FIXTURES=OUT)
    raw = subprocess.run(["sh", "-c", cmd], cwd=data, env=env, check=True, stdout=subprocess.PIPE).stdout
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


def reference(data, source, cased, max_length):
    if source == "vocab":
        tok = BertWordPieceTokenizer(os.path.join(data, VOCAB), lowercase=not cased,
                                     strip_accents=False if cased else None)
    else:
        tok = Tokenizer.from_file(os.path.join(data, MINILM, "tokenizer.json"))
        if cased:
            raise ValueError("model cases are uncased")
    tok.no_padding()
    tok.enable_truncation(max_length=max_length, strategy="longest_first")
    return tok


def encode_all(tok, texts, pair):
    if pair:
        splits = []
        for t in texts:
            assert "\t" in t, "pair line without TAB: %r" % t[:80]
            splits.append(tuple(t.split("\t", 1)))
        return [e.ids for e in tok.encode_batch(splits)]
    return [e.ids for e in tok.encode_batch(texts)]


def differences(base, other):
    return ["%d\t%s" % (i + 1, " ".join(map(str, b))) for i, (a, b) in enumerate(zip(base, other)) if a != b]


def main():
    data = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared", "data")
    os.makedirs(OUT, exist_ok=True)
    total = 0
    manifest = ["# name\ttokenizer\tflags\tmax lengths\tcommand (run in shared/data)  -- generated by "
                "scripts/gen_tokenizer_golden.py with tokenizers %s" % tokenizers.__version__]
    for name, source, flags, lengths, cmd in cases(data):
        lengths = [int(x) for x in lengths.split()]
        raw = input_lines(data, cmd)
        try:
            texts = [line.decode("utf-8") for line in raw]
        except UnicodeDecodeError:
            flags = ("--utf8-errors=replace " + flags).strip()
            texts = [line.decode("utf-8", errors="replace") for line in raw]
        pair = "--pair" in flags
        body = []
        base = None
        for casing in (("uncased",) if source == "model" else ("uncased", "cased")):
            full = encode_all(reference(data, source, casing == "cased", lengths[0]), texts, pair)
            body.append("#config %s %d" % (casing, lengths[0]))
            if base is None:
                body.extend(" ".join(map(str, ids)) for ids in full)
                base = full
            else:
                body.extend(differences(base, full))
            for length in lengths[1:]:
                short = encode_all(reference(data, source, casing == "cased", length), texts, pair)
                body.append("#config %s %d" % (casing, length))
                body.extend(differences(full, short))
        with open(os.path.join(OUT, name + ".golden.xz"), "wb") as f:
            f.write(lzma.compress(("\n".join(body) + "\n").encode(), preset=9 | lzma.PRESET_EXTREME))
        manifest.append("%s\t%s\t%s\t%s\t%s" % (name, source, flags or "-", " ".join(map(str, lengths)), cmd))
        total += len(texts)
        print("%-45s %6d lines" % (name, len(texts)), file=sys.stderr)
    with open(os.path.join(OUT, "manifest.tsv"), "w") as f:
        f.write("\n".join(manifest) + "\n")
    print("total input lines: %d" % total, file=sys.stderr)


if __name__ == "__main__":
    main()
