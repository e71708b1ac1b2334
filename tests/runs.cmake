# Runs of tasks (TaskLogService, store/run_store) and the lease reaper.
metad_test(run_store_pgtest run_store_pgtest.cc LIBS metad_store)
metad_test(run_service_pgtest run_service_pgtest.cc
  LIBS metad_services)
metad_test(lease_reaper_pgtest lease_reaper_pgtest.cc LIBS metad_services)
# Group commit of StartRun and FinishRun.
metad_test(run_batch_pgtest run_batch_pgtest.cc LIBS metad_services)
# Exactly once at the edges: claims, completions and finishes retried after
# lost answers (issue 12).
metad_test(exactly_once_pgtest exactly_once_pgtest.cc LIBS metad_services)
# CancelRun and RerunTasks (the operator's verbs).
metad_test(run_verbs_pgtest run_verbs_pgtest.cc LIBS metad_services)
# Run labels: stored by StartRun, returned by every read, refusals.
metad_test(run_labels_pgtest run_labels_pgtest.cc LIBS metad_services)
# Label and attribute selectors on ListRuns / ListFiles, and their indexes.
metad_test(label_search_pgtest label_search_pgtest.cc LIBS metad_services)
target_include_directories(label_search_pgtest PRIVATE ${CMAKE_BINARY_DIR}/gen)
# Deadlines and freshness: DEADLINE_MISSED and STALE alerts (issue 15).
metad_test(deadlines_pgtest deadlines_pgtest.cc LIBS metad_services)
