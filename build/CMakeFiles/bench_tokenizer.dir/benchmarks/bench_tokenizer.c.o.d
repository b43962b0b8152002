CMakeFiles/bench_tokenizer.dir/benchmarks/bench_tokenizer.c.o: \
 /work/main/benchmarks/bench_tokenizer.c /usr/include/stdc-predef.h
