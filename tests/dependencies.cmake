# DependencyService and its store (the service tests register tasks through
# TaskService).
metad_test(dependency_pgtest dependency_store_pgtest.cc
  dependency_service_pgtest.cc dependency_paging_pgtest.cc
  ready_cache_pgtest.cc
  LIBS metad_services)
