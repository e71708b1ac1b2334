# Fault injection (issue 3): scripted tests against real processes on
# loopback: the built metad, PostgreSQL clusters the tests stop and start,
# and faults_worker processes they kill. They are not ctest entries: they
# stop databases and kill processes, so scripts/faults.sh runs them one at a
# time (short by default, --long for the full version) and collects the
# figures for docs/reliability.md.
add_library(metad_fault_support STATIC
  faults/fault_support.cc
  faults/worker_fleet.cc)
target_link_libraries(metad_fault_support PUBLIC metad_test_support)

add_executable(faults_worker faults/faults_worker.cc)
target_link_libraries(faults_worker PRIVATE metad_proto absl::strings)

add_custom_target(faults)
add_dependencies(faults metad faults_worker)

# metad_fault_test(NAME SOURCE...): a GoogleTest binary run by faults.sh.
function(metad_fault_test name)
  add_executable(${name} ${ARGN})
  target_link_libraries(${name} PRIVATE metad_fault_support GTest::gtest_main)
  add_dependencies(faults ${name})
endfunction()

# The checks themselves, on hand-written histories: each can fail.
metad_fault_test(faults_checks_pgtest faults/checks_pgtest.cc)
metad_fault_test(faults_daemon_kill_pgtest faults/daemon_kill_pgtest.cc)
metad_fault_test(faults_database_restart_pgtest
  faults/database_restart_pgtest.cc)
metad_fault_test(faults_connections_pgtest faults/connections_pgtest.cc)
metad_fault_test(faults_deadline_pgtest faults/deadline_pgtest.cc)
metad_fault_test(faults_worker_kill_pgtest faults/worker_kill_pgtest.cc)
metad_fault_test(faults_replicas_pgtest faults/replicas_pgtest.cc)
metad_fault_test(faults_sync_standby_pgtest faults/sync_standby_pgtest.cc)
metad_fault_test(faults_failover_pgtest faults/failover_pgtest.cc)
metad_fault_test(faults_read_standby_pgtest faults/read_standby_pgtest.cc)
target_link_libraries(faults_read_standby_pgtest PRIVATE metad_client)
metad_fault_test(faults_failover_fence_pgtest faults/failover_fence_pgtest.cc)
metad_fault_test(faults_lease_outage_pgtest faults/lease_outage_pgtest.cc)
