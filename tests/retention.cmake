# Retention (AdminService.PruneHistory, metad serve --retention) through the
# built metad binary.
metad_test(retention_pgtest retention_pgtest.cc)
add_dependencies(retention_pgtest metad metactl)
# Partitioned history (migration 0014): retention by dropping partitions,
# partitions made ahead, the upgrade from unpartitioned event tables.
metad_test(partitioned_history_pgtest partitioned_history_pgtest.cc)
add_dependencies(partitioned_history_pgtest metad)
