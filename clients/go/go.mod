module github.com/metad-project/metad/clients/go

go 1.19

// The versions Debian 12 ships (golang-google-grpc-dev 1.33.3,
// golang-google-protobuf-dev 1.28.1, ...); genproto is the version grpc-go
// 1.33 itself requires. Offline builds replace them all with Debian's source
// trees through a generated go.work: see README.md, "Building offline".
require (
	google.golang.org/genproto v0.0.0-20200526211855-cb27e3aa2013
	google.golang.org/grpc v1.33.3
	google.golang.org/protobuf v1.28.1
)

require (
	github.com/golang/protobuf v1.5.2 // indirect
	golang.org/x/net v0.3.0 // indirect
	golang.org/x/sys v0.5.0 // indirect
	golang.org/x/text v0.7.0 // indirect
)
