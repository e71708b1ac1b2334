# TaskService and its store.
metad_test(task_pgtest task_store_pgtest.cc task_service_pgtest.cc
  LIBS metad_services)
# Task events and the actor of every event (issue 12).
metad_test(task_events_pgtest task_events_pgtest.cc LIBS metad_services)
# UpdateTask: field masks and etags (issue 13).
metad_test(task_update_pgtest task_update_pgtest.cc LIBS metad_services)
