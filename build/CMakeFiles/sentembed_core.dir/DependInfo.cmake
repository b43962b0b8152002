
# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/main/host/error.c" "CMakeFiles/sentembed_core.dir/host/error.c.o" "gcc" "CMakeFiles/sentembed_core.dir/host/error.c.o.d"
  "/work/main/host/fileio.c" "CMakeFiles/sentembed_core.dir/host/fileio.c.o" "gcc" "CMakeFiles/sentembed_core.dir/host/fileio.c.o.d"
  "/work/main/host/json_util.c" "CMakeFiles/sentembed_core.dir/host/json_util.c.o" "gcc" "CMakeFiles/sentembed_core.dir/host/json_util.c.o.d"
  "/work/main/host/utf8.c" "CMakeFiles/sentembed_core.dir/host/utf8.c.o" "gcc" "CMakeFiles/sentembed_core.dir/host/utf8.c.o.d"
  "/work/main/tokenizer/tokenizer.c" "CMakeFiles/sentembed_core.dir/tokenizer/tokenizer.c.o" "gcc" "CMakeFiles/sentembed_core.dir/tokenizer/tokenizer.c.o.d"
  "/work/main/tokenizer/tokenizer_load.c" "CMakeFiles/sentembed_core.dir/tokenizer/tokenizer_load.c.o" "gcc" "CMakeFiles/sentembed_core.dir/tokenizer/tokenizer_load.c.o.d"
  "/work/main/tokenizer/unicode_props.c" "CMakeFiles/sentembed_core.dir/tokenizer/unicode_props.c.o" "gcc" "CMakeFiles/sentembed_core.dir/tokenizer/unicode_props.c.o.d"
  "/work/main/tokenizer/unicode_tables.c" "CMakeFiles/sentembed_core.dir/tokenizer/unicode_tables.c.o" "gcc" "CMakeFiles/sentembed_core.dir/tokenizer/unicode_tables.c.o.d"
  "/work/main/tokenizer/vocab.c" "CMakeFiles/sentembed_core.dir/tokenizer/vocab.c.o" "gcc" "CMakeFiles/sentembed_core.dir/tokenizer/vocab.c.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")
