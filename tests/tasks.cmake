# TaskService and its store.
metad_test(task_pgtest task_store_pgtest.cc task_service_pgtest.cc
  LIBS metad_services)
