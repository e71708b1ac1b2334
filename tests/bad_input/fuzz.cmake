# The libFuzzer target (tests/bad_input/fuzz), built with clang in a project
# of its own and run briefly as the ctest entry request_fuzzer. Needs clang
# and libFuzzer's runtime (Debian: clang libclang-rt-14-dev); without them
# the entry is left out, with a message. METAD_FUZZ_RUNS sets its length.
option(METAD_FUZZ "Build and briefly run the libFuzzer target (needs clang)"
  ON)
set(METAD_FUZZ_RUNS 50000 CACHE STRING "libFuzzer -runs for the ctest entry")
if(NOT METAD_FUZZ)
  return()
endif()

find_program(METAD_FUZZ_CLANGXX NAMES clang++ clang++-14)
if(METAD_FUZZ_CLANGXX AND NOT DEFINED METAD_FUZZ_WORKS)
  # Can it link a fuzzer with both sanitizers (is the runtime installed)?
  set(probe ${CMAKE_CURRENT_BINARY_DIR}/fuzz_probe)
  file(WRITE ${probe}.cc "#include <cstdint>\n#include <cstddef>\n"
    "extern \"C\" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) "
    "{ return 0; }\n")
  execute_process(
    COMMAND ${METAD_FUZZ_CLANGXX} -fsanitize=fuzzer,address,undefined
            ${probe}.cc -o ${probe}
    RESULT_VARIABLE probe_result OUTPUT_QUIET ERROR_QUIET)
  if(probe_result EQUAL 0)
    set(METAD_FUZZ_WORKS ON CACHE INTERNAL "")
  else()
    set(METAD_FUZZ_WORKS OFF CACHE INTERNAL "")
  endif()
endif()
if(NOT METAD_FUZZ_CLANGXX OR NOT METAD_FUZZ_WORKS)
  message(STATUS "request_fuzzer: skipped (needs clang and libclang-rt-14-dev)")
  return()
endif()

include(ExternalProject)
set(METAD_FUZZ_DIR ${CMAKE_CURRENT_BINARY_DIR}/fuzz)
ExternalProject_Add(request_fuzzer_build
  SOURCE_DIR ${CMAKE_CURRENT_SOURCE_DIR}/bad_input/fuzz
  BINARY_DIR ${METAD_FUZZ_DIR}
  CMAKE_ARGS -DCMAKE_CXX_COMPILER=${METAD_FUZZ_CLANGXX}
             -DCMAKE_BUILD_TYPE=RelWithDebInfo
             -DMETAD_SOURCE_DIR=${CMAKE_SOURCE_DIR}
  BUILD_ALWAYS ON
  INSTALL_COMMAND ""
  BUILD_BYPRODUCTS ${METAD_FUZZ_DIR}/request_fuzzer)

# New inputs go to the build tree's corpus; the seeds are only read.
file(MAKE_DIRECTORY ${METAD_FUZZ_DIR}/corpus)
add_test(NAME request_fuzzer
  COMMAND ${METAD_FUZZ_DIR}/request_fuzzer -runs=${METAD_FUZZ_RUNS} -seed=1
          -max_len=4096 -timeout=10 -print_final_stats=1
          ${METAD_FUZZ_DIR}/corpus
          ${CMAKE_CURRENT_SOURCE_DIR}/bad_input/fuzz/seeds)
set_tests_properties(request_fuzzer PROPERTIES TIMEOUT 600
  ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1;UBSAN_OPTIONS=print_stacktrace=1")
