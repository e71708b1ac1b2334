# FileService: the store against PostgreSQL, the service through gRPC, and
# concurrent claimers and registrants.
metad_test(file_store_pgtest file_store_pgtest.cc LIBS metad_store)
metad_test(file_service_pgtest file_service_pgtest.cc LIBS metad_services)
metad_test(file_concurrency_pgtest file_concurrency_pgtest.cc
  LIBS metad_services)
metad_test(register_batcher_pgtest register_batcher_pgtest.cc
  LIBS metad_store)
metad_test(file_versions_pgtest file_versions_pgtest.cc LIBS metad_services)
metad_test(claim_batcher_pgtest claim_batcher_pgtest.cc LIBS metad_store)
