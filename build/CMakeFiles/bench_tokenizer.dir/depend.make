# Empty dependencies file for bench_tokenizer.
# This may be replaced when dependencies are built.
