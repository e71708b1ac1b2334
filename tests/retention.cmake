# Retention (AdminService.PruneHistory, metad serve --retention) through the
# built metad binary.
metad_test(retention_pgtest retention_pgtest.cc)
add_dependencies(retention_pgtest metad metactl)
