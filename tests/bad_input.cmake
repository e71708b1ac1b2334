# Bad input (issue 3): hostile requests to every RPC, the interceptor that
# answers unparsable requests with INVALID_ARGUMENT, and a libFuzzer target.

metad_test(malformed_request_test bad_input/malformed_request_test.cc
  LIBS metad_services)

# Against the built metad binary.
metad_test(bad_input_pgtest bad_input/bad_input_pgtest.cc)
add_dependencies(bad_input_pgtest metad)

include(${CMAKE_CURRENT_SOURCE_DIR}/bad_input/fuzz.cmake OPTIONAL)
