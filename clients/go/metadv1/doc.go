// Package metadv1 holds the Go stubs of the metad API (proto/metad/v1).
//
// The *.pb.go files are generated and committed; after changing a .proto,
// regenerate them (clients/go/check_stubs.sh fails the tests until then):
//
//	source clients/go/env.sh && metad_go_generate
//
// (protoc with Debian's protoc-gen-go 1.28 and protoc-gen-go-grpc 1.33).
package metadv1
