#!/usr/bin/env python3
"""Random-weight sentence-transformers models with real architectures, for GPU checks and
benchmarks on a machine without network: all-MiniLM-L6-v2's architecture (6 layers,
hidden 384) and bert-base-uncased's (12 layers, hidden 768), each BertModel + mean
pooling, saved as safetensors with all-MiniLM-L6-v2's (= bert-base-uncased's) tokenizer.
usage: make_random_models.py TOKENIZER_DIR OUT_DIR      (needs torch, transformers,
sentence-transformers)"""
import os
import shutil
import sys

import torch
from sentence_transformers import SentenceTransformer, models
from transformers import BertConfig, BertModel

ARCHS = {
    "minilm-random": dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536),
    "bert-base-random": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
}
TOKENIZER_FILES = ["vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]


def main():
    tok_dir, out = sys.argv[1], sys.argv[2]
    for name, arch in ARCHS.items():
        torch.manual_seed(0)
        path = os.path.join(out, name)
        hf = os.path.join(out, name + "-hf")
        cfg = BertConfig(vocab_size=30522, max_position_embeddings=512, type_vocab_size=2, hidden_act="gelu",
                         layer_norm_eps=1e-12, **arch)
        BertModel(cfg, add_pooling_layer=False).save_pretrained(hf, safe_serialization=True)
        for f in TOKENIZER_FILES:
            shutil.copy(os.path.join(tok_dir, f), hf)
        word = models.Transformer(hf, max_seq_length=256)
        pool = models.Pooling(word.get_word_embedding_dimension(), "mean")
        SentenceTransformer(modules=[word, pool], device="cpu").save(path)
        shutil.rmtree(hf)
        print("wrote", path)


if __name__ == "__main__":
    main()
