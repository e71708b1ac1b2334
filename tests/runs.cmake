# Runs of tasks (TaskLogService, store/run_store) and the lease reaper.
metad_test(run_store_pgtest run_store_pgtest.cc LIBS metad_task_log_service)
metad_test(run_service_pgtest run_service_pgtest.cc
  LIBS metad_task_log_service)
# lease_reaper.cc is compiled in directly: metad_server would pull in every
# other service, and their work in progress must not stop this test building.
metad_test(lease_reaper_pgtest lease_reaper_pgtest.cc
  ${CMAKE_SOURCE_DIR}/daemon/lease_reaper.cc LIBS metad_task_log_service)
# Group commit of StartRun and FinishRun.
metad_test(run_batch_pgtest run_batch_pgtest.cc LIBS metad_task_log_service)
