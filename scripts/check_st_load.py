#!/usr/bin/env python3
"""Checks a model directory written by sentembed's st_save against the model it came from,
with the reference stack (run with .venv-ref/bin/python; not part of ctest):

  1. SentenceTransformer(SAVED_DIR) loads and its embeddings of the sentences agree with
     SentenceTransformer(ORIGINAL_DIR)'s to 1e-6 (max abs difference);
  2. transformers.AutoModel.from_pretrained(SAVED_DIR) loads with no unexpected tensor and
     none missing but the BERT pooler (sentembed does not keep it; sentence-transformers
     never uses it), and its last_hidden_state agrees with the original's to 1e-6.

usage: check_st_load.py SAVED_DIR ORIGINAL_DIR SENTENCES_FILE   (one sentence a line)
Exit status 0 when both hold, 1 otherwise.
"""
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402
from transformers import AutoModel, AutoTokenizer  # noqa: E402

TOL = 1e-6


def main() -> int:
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    saved, original, sentences_file = sys.argv[1:]
    with open(sentences_file, encoding="utf-8") as f:
        sentences = [line for line in f.read().split("\n") if line]
    torch.set_num_threads(1)
    ok = True

    a = SentenceTransformer(original, device="cpu")
    b = SentenceTransformer(saved, device="cpu")
    print(f"original: {a}")
    print(f"saved:    {b}")
    if a.max_seq_length != b.max_seq_length:
        print(f"FAIL max_seq_length: saved {b.max_seq_length}, original {a.max_seq_length}")
        ok = False
    ea = a.encode(sentences, batch_size=32, convert_to_numpy=True)
    eb = b.encode(sentences, batch_size=32, convert_to_numpy=True)
    if ea.shape != eb.shape:
        print(f"FAIL embedding shape: saved {eb.shape}, original {ea.shape}")
        return 1
    diff = float(np.max(np.abs(ea.astype(np.float64) - eb.astype(np.float64))))
    identical = bool(np.array_equal(ea, eb))
    print(f"SentenceTransformer: {len(sentences)} sentences, dim {ea.shape[1]}, max abs diff {diff:.3g}"
          f"{' (bit-identical)' if identical else ''}")
    if not diff <= TOL:
        print(f"FAIL embeddings differ by more than {TOL}")
        ok = False

    model, info = AutoModel.from_pretrained(saved, output_loading_info=True)
    missing = sorted(info.get("missing_keys", []))
    unexpected = sorted(info.get("unexpected_keys", []))
    mismatched = info.get("mismatched_keys", [])
    print(f"AutoModel: {type(model).__name__}, missing {missing}, unexpected {unexpected}, "
          f"mismatched {list(mismatched)}")
    if any(not k.startswith("pooler.") for k in missing) or unexpected or mismatched:
        print("FAIL AutoModel.from_pretrained: tensors missing, unexpected or mismatched")
        ok = False
    ref = AutoModel.from_pretrained(original)
    tok = AutoTokenizer.from_pretrained(saved)
    batch = tok(sentences[:64], padding=True, truncation=True, max_length=b.max_seq_length, return_tensors="pt")
    model.eval()
    ref.eval()
    with torch.no_grad():
        ha = ref(**batch).last_hidden_state
        hb = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).bool()
    hdiff = float((ha - hb).abs().masked_select(mask).max())
    print(f"AutoModel: last_hidden_state of {len(batch['input_ids'])} sentences, max abs diff {hdiff:.3g}")
    if not hdiff <= TOL:
        print(f"FAIL AutoModel hidden states differ by more than {TOL}")
        ok = False

    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
