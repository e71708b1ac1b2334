# metactl and the C++ client library (clients/cpp).
# Unit tests: no database (fake services on loopback for the client).
metad_test(metactl_test
  metactl_args_test.cc
  metactl_output_test.cc
  metactl_dot_test.cc
  metactl_client_test.cc
  LIBS metactl_lib)

# End to end: the built metad and metactl, the seed scenario through the
# shell. Needs METAD_TEST_PG (scripts/test.sh exports it); skipped without.
add_test(NAME metactl_e2e
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/metactl_e2e.sh ${CMAKE_BINARY_DIR})
set_tests_properties(metactl_e2e PROPERTIES TIMEOUT 900 SKIP_RETURN_CODE 77)

# The C++ worker helper (clients/cpp/worker_run) against the real services.
metad_test(worker_run_pgtest worker_run_pgtest.cc
  LIBS metad_client metad_services)

# metactl watch files|runs: live output, filters, SIGINT, a daemon restart.
add_test(NAME metactl_watch_e2e
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/metactl_watch_e2e.sh
          ${CMAKE_BINARY_DIR})
set_tests_properties(metactl_watch_e2e PROPERTIES TIMEOUT 300
  SKIP_RETURN_CODE 77)

# cmake --install of a METAD_CLIENT_ONLY build, and an outside project
# (tests/install_consumer) that finds it with find_package(metad_client).
add_test(NAME install_test
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/install_test.sh
          ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR})
set_tests_properties(install_test PROPERTIES TIMEOUT 900 SKIP_RETURN_CODE 77)

# The C++ EnsureTask helper (clients/cpp/ensure_task) against TaskService.
metad_test(ensure_task_pgtest ensure_task_pgtest.cc
  LIBS metad_client metad_services)

# Labels and search through metactl (runs/files list, watch, runs start).
add_test(NAME metactl_labels_e2e
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/metactl_labels_e2e.sh
          ${CMAKE_BINARY_DIR})
set_tests_properties(metactl_labels_e2e PROPERTIES TIMEOUT 300
  SKIP_RETURN_CODE 77)
