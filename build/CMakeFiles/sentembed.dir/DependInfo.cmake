
# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/main/trainer/cli_args.c" "CMakeFiles/sentembed.dir/trainer/cli_args.c.o" "gcc" "CMakeFiles/sentembed.dir/trainer/cli_args.c.o.d"
  "/work/main/trainer/cmd_tokenize.c" "CMakeFiles/sentembed.dir/trainer/cmd_tokenize.c.o" "gcc" "CMakeFiles/sentembed.dir/trainer/cmd_tokenize.c.o.d"
  "/work/main/trainer/main.c" "CMakeFiles/sentembed.dir/trainer/main.c.o" "gcc" "CMakeFiles/sentembed.dir/trainer/main.c.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  "/work/main/build/CMakeFiles/sentembed_core.dir/DependInfo.cmake"
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")
