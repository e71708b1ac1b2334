# Outputs of runs (RecordOutputs, FinishRun outputs) and GetLineage: the
# services through gRPC, and the walk's edge cap against the store.
metad_test(lineage_pgtest lineage_pgtest.cc LIBS metad_services)

# metactl lineage as Graphviz dot (pure), and metactl's outputs and lineage
# commands end to end against the built metad (skipped without
# METAD_TEST_PG).
metad_test(metactl_lineage_test metactl_lineage_dot_test.cc LIBS metactl_lib)
add_test(NAME metactl_lineage_e2e
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/metactl_lineage_e2e.sh
          ${CMAKE_BINARY_DIR})
set_tests_properties(metactl_lineage_e2e PROPERTIES TIMEOUT 300
  SKIP_RETURN_CODE 77)
