# End-to-end: the built metad binary as child processes, over real gRPC.
metad_test(e2e_pgtest e2e_pgtest.cc)
add_dependencies(e2e_pgtest metad)
metad_test(multi_daemon_pgtest multi_daemon_pgtest.cc)
add_dependencies(multi_daemon_pgtest metad)
metad_test(metrics_pgtest metrics_pgtest.cc)
add_dependencies(metrics_pgtest metad)
metad_test(access_pgtest access_pgtest.cc)
add_dependencies(access_pgtest metad)
# Concurrency limits held on leases (issue 15): refusal, slots freed, the
# race over three replicas.
metad_test(concurrency_limit_pgtest concurrency_limit_pgtest.cc)
add_dependencies(concurrency_limit_pgtest metad)
