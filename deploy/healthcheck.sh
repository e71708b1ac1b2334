#!/bin/sh
# metad-healthcheck [HOST:PORT]
#
# Exits 0 when metad's grpc.health.v1.Health/Check for the whole server
# (service "") answers SERVING, 1 otherwise (NOT_SERVING while the database
# is unreachable or during drain, no answer, not gRPC).
#
# Debian has no grpc_health_probe, so this speaks gRPC with curl: HTTP/2
# without TLS (h2c, --http2-prior-knowledge), a POST of one gRPC frame.
#   request body: 00 00000000        flag 0, length 0: an empty
#                                    HealthCheckRequest (service "")
#   SERVING reply: 00 00000002 08 01 length 2: field 1 (status) = 1
# NOT_SERVING is 08 02. Plaintext only: with TLS on the gRPC port use the
# Kubernetes gRPC probe or a client with certificates instead.
#
# The default address is the port of METAD_LISTEN on 127.0.0.1, which is
# what the container image sets.
set -eu

listen=${METAD_LISTEN:-127.0.0.1:50051}
addr=${1:-127.0.0.1:${listen##*:}}
timeout=${METAD_HEALTHCHECK_TIMEOUT:-3}

reply=$(printf '\000\000\000\000\000' |
  curl --silent --http2-prior-knowledge --max-time "$timeout" \
    --header 'content-type: application/grpc' --header 'te: trailers' \
    --data-binary @- "http://$addr/grpc.health.v1.Health/Check" 2>/dev/null |
  od -An -v -tx1 | tr -d ' \n') || reply=

case $reply in
  00000000020801) exit 0 ;;
  00000000020802) state=NOT_SERVING ;;
  0000000000) state=UNKNOWN ;;
  '') state="no gRPC answer" ;;
  *) state="unexpected reply $reply" ;;
esac
echo "metad at $addr is not serving: $state" >&2
exit 1
