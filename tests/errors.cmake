# Error details (google.rpc.Status in grpc-status-details-bin) across the
# services, decoded by a client over a real channel.
metad_test(error_details_pgtest error_details_pgtest.cc
  LIBS metad_services)
