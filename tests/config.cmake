# Configuration: flags, environment and config file; --print-config.
metad_test(config_test config_test.cc LIBS metad_app)
# Runs the built metad (no database needed).
metad_test(config_e2e_test config_e2e_test.cc)
add_dependencies(config_e2e_test metad)
target_compile_definitions(config_e2e_test PRIVATE
  METAD_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
