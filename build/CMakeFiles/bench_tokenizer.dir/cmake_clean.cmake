file(REMOVE_RECURSE
  "CMakeFiles/bench_tokenizer.dir/benchmarks/bench_tokenizer.c.o"
  "CMakeFiles/bench_tokenizer.dir/benchmarks/bench_tokenizer.c.o.d"
  "bench_tokenizer"
  "bench_tokenizer.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/bench_tokenizer.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
