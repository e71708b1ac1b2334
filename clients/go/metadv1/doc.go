// Package metadv1 holds the Go stubs of the metad API (proto/metad/v1).
//
// The *.pb.go files are generated at build time, never committed:
//
//	source clients/go/env.sh && metad_go_generate
//
// (protoc with Debian's protoc-gen-go and protoc-gen-go-grpc).
package metadv1
