# CMake generated Testfile for 
# Source directory: /work/main/tests
# Build directory: /work/main/build/tests
# 
# This file includes the relevant testing commands required for 
# testing this directory and lists subdirectories to be tested as well.
add_test([=[test_host]=] "/work/main/build/tests/test_host")
set_tests_properties([=[test_host]=] PROPERTIES  LABELS "unit" SKIP_RETURN_CODE "77" _BACKTRACE_TRIPLES "/work/main/tests/CMakeLists.txt;9;add_test;/work/main/tests/CMakeLists.txt;13;sentembed_c_test;/work/main/tests/CMakeLists.txt;0;")
add_test([=[test_tokenizer]=] "/work/main/build/tests/test_tokenizer" "/work/main/../shared/data")
set_tests_properties([=[test_tokenizer]=] PROPERTIES  LABELS "unit" SKIP_RETURN_CODE "77" _BACKTRACE_TRIPLES "/work/main/tests/CMakeLists.txt;9;add_test;/work/main/tests/CMakeLists.txt;14;sentembed_c_test;/work/main/tests/CMakeLists.txt;0;")
add_test([=[tokenizer_golden]=] "/work/main/tests/tokenizer_golden.sh" "/work/main/build/sentembed" "/work/main/tests/fixtures/tokenizer" "/work/main/../shared/data")
set_tests_properties([=[tokenizer_golden]=] PROPERTIES  LABELS "golden" SKIP_RETURN_CODE "77" _BACKTRACE_TRIPLES "/work/main/tests/CMakeLists.txt;16;add_test;/work/main/tests/CMakeLists.txt;0;")
add_test([=[cli_tokenize]=] "/work/main/tests/cli_tokenize.sh" "/work/main/build/sentembed" "/work/main/../shared/data")
set_tests_properties([=[cli_tokenize]=] PROPERTIES  LABELS "cli" SKIP_RETURN_CODE "77" _BACKTRACE_TRIPLES "/work/main/tests/CMakeLists.txt;21;add_test;/work/main/tests/CMakeLists.txt;0;")
add_test([=[test_cuda_device]=] "/work/main/build/tests/test_cuda_device")
set_tests_properties([=[test_cuda_device]=] PROPERTIES  LABELS "gpu" SKIP_RETURN_CODE "77" _BACKTRACE_TRIPLES "/work/main/tests/CMakeLists.txt;28;add_test;/work/main/tests/CMakeLists.txt;0;")
