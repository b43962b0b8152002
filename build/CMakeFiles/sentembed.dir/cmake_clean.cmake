file(REMOVE_RECURSE
  "CMakeFiles/sentembed.dir/trainer/cli_args.c.o"
  "CMakeFiles/sentembed.dir/trainer/cli_args.c.o.d"
  "CMakeFiles/sentembed.dir/trainer/cmd_tokenize.c.o"
  "CMakeFiles/sentembed.dir/trainer/cmd_tokenize.c.o.d"
  "CMakeFiles/sentembed.dir/trainer/main.c.o"
  "CMakeFiles/sentembed.dir/trainer/main.c.o.d"
  "sentembed"
  "sentembed.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/sentembed.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
