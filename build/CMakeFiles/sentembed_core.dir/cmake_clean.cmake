file(REMOVE_RECURSE
  "CMakeFiles/sentembed_core.dir/host/error.c.o"
  "CMakeFiles/sentembed_core.dir/host/error.c.o.d"
  "CMakeFiles/sentembed_core.dir/host/fileio.c.o"
  "CMakeFiles/sentembed_core.dir/host/fileio.c.o.d"
  "CMakeFiles/sentembed_core.dir/host/json_util.c.o"
  "CMakeFiles/sentembed_core.dir/host/json_util.c.o.d"
  "CMakeFiles/sentembed_core.dir/host/utf8.c.o"
  "CMakeFiles/sentembed_core.dir/host/utf8.c.o.d"
  "CMakeFiles/sentembed_core.dir/tokenizer/tokenizer.c.o"
  "CMakeFiles/sentembed_core.dir/tokenizer/tokenizer.c.o.d"
  "CMakeFiles/sentembed_core.dir/tokenizer/tokenizer_load.c.o"
  "CMakeFiles/sentembed_core.dir/tokenizer/tokenizer_load.c.o.d"
  "CMakeFiles/sentembed_core.dir/tokenizer/unicode_props.c.o"
  "CMakeFiles/sentembed_core.dir/tokenizer/unicode_props.c.o.d"
  "CMakeFiles/sentembed_core.dir/tokenizer/unicode_tables.c.o"
  "CMakeFiles/sentembed_core.dir/tokenizer/unicode_tables.c.o.d"
  "CMakeFiles/sentembed_core.dir/tokenizer/vocab.c.o"
  "CMakeFiles/sentembed_core.dir/tokenizer/vocab.c.o.d"
  "libsentembed_core.a"
  "libsentembed_core.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/sentembed_core.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
