# WatchService: the settled horizon and stream reads on PostgreSQL, and the
# streams through gRPC in both watch modes (notify and poll).
metad_test(watch_store_pgtest watch_store_pgtest.cc LIBS metad_store)
metad_test(watch_service_pgtest watch_service_pgtest.cc
  LIBS metad_services)
# The built binary: --watch_mode poll and notify daemons, SIGTERM with open
# streams.
metad_test(watch_e2e_pgtest watch_e2e_pgtest.cc
  LIBS metad_services)
add_dependencies(watch_e2e_pgtest metad)
metad_test(notification_listener_pgtest notification_listener_pgtest.cc
  LIBS metad_store)
# The C++ client's WatchStream against the built binary: resume across a
# restart, from-now resume, OUT_OF_RANGE after PruneHistory, Cancel.
metad_test(watch_client_pgtest watch_client_pgtest.cc LIBS metad_client)
add_dependencies(watch_client_pgtest metad)
# The watch streams' label and attribute selectors.
metad_test(watch_selector_pgtest watch_selector_pgtest.cc LIBS metad_services)
# WatchStore on small partitions: cached generic plans across boundaries,
# the DEFAULT partition and partitions attached later.
metad_test(watch_partitions_pgtest watch_partitions_pgtest.cc LIBS metad_store)
