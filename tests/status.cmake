# The status page on the operator HTTP port. The browser test
# (status_page_e2e.sh, headless Chromium) runs from scripts/test.sh.
metad_test(json_writer_test json_writer_test.cc LIBS metad_http)
metad_test(status_page_pgtest status_page_pgtest.cc)
add_dependencies(status_page_pgtest metad)
metad_test(status_page_store_pgtest status_page_store_pgtest.cc LIBS metad_store)
# The operator port: /metrics under stalled clients and stuck status
# queries, the status page's own port and token, live and process metrics.
metad_test(operator_port_pgtest operator_port_pgtest.cc LIBS metad_http)
add_dependencies(operator_port_pgtest metad)
