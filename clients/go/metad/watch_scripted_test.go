package metad_test

// A watch against a scripted WatchService (no daemon): a CANCELLED the watch
// did not ask for (gRPC's answer to a stream opened while metad is stopping)
// is resumed like UNAVAILABLE, from the last event id.

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/metad-project/metad/clients/go/metad"
	"github.com/metad-project/metad/clients/go/metadv1"
)

type scriptedWatch struct {
	metadv1.UnimplementedWatchServiceServer
	seen []int64 // after_event_id of each call
}

func (s *scriptedWatch) WatchRuns(req *metadv1.WatchRunsRequest, stream metadv1.WatchService_WatchRunsServer) error {
	s.seen = append(s.seen, req.GetAfterEventId())
	switch len(s.seen) {
	case 1:
		stream.Send(&metadv1.WatchedRunEvent{Event: &metadv1.RunEvent{Id: 5}})
		return status.Error(codes.Canceled, "scripted: server stopping")
	case 2:
		stream.Send(&metadv1.WatchedRunEvent{Event: &metadv1.RunEvent{Id: 6}})
		return status.Error(codes.OutOfRange, "scripted: history pruned")
	}
	return status.Error(codes.Internal, "unexpected call")
}

func TestWatchResumesAfterACancelledItDidNotAskFor(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := grpc.NewServer()
	fake := &scriptedWatch{}
	metadv1.RegisterWatchServiceServer(server, fake)
	go server.Serve(lis)
	t.Cleanup(server.Stop)
	c, err := metad.Dial(context.Background(), lis.Addr().String(), metad.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w := c.WatchRuns(ctx, &metadv1.WatchRunsRequest{AfterEventId: 4}, metad.WatchOptions{})
	defer w.Close()
	var ids []int64
	for {
		ev, err := w.Recv()
		if err != nil {
			if status.Code(err) != codes.OutOfRange {
				t.Fatalf("watch ended with %v, want OUT_OF_RANGE", err)
			}
			break
		}
		ids = append(ids, ev.GetEvent().GetId())
	}
	if len(ids) != 2 || ids[0] != 5 || ids[1] != 6 {
		t.Errorf("events %v, want [5 6]", ids)
	}
	if len(fake.seen) != 2 || fake.seen[0] != 4 || fake.seen[1] != 5 {
		t.Errorf("calls after %v, want [4 5]", fake.seen)
	}
}
