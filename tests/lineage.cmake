# Outputs of runs (RecordOutputs, FinishRun outputs) and GetLineage: the
# services through gRPC, and the walk's edge cap against the store.
metad_test(lineage_pgtest lineage_pgtest.cc LIBS metad_services)
