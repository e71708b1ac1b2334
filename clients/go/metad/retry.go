package metad

import (
	"context"
	"math/rand"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// CallKind says how a method may be retried.
type CallKind int

const (
	// Once: the call changes state and carries no idempotency key; it is
	// never retried by the client.
	Once CallKind = iota
	// Read: the call only reads; retried on UNAVAILABLE and ABORTED.
	Read
	// Creating: the call creates something and carries a request_id, which
	// the client fills in when empty; retried on UNAVAILABLE and ABORTED
	// with the same request_id.
	Creating
	// Idempotent: the call changes state, but the daemon answers a repeat
	// of a call that took effect as the first one (replayed=true, or the
	// same outcome), so it is retried on UNAVAILABLE and ABORTED like a
	// read, without a request_id.
	Idempotent
)

// String names the kind ("once", "read", "creating", "idempotent").
func (k CallKind) String() string {
	switch k {
	case Once:
		return "once"
	case Read:
		return "read"
	case Creating:
		return "creating"
	case Idempotent:
		return "idempotent"
	}
	return "CallKind(?)"
}

// creatingMethods are the metad.v1 methods with a request_id field. A
// retried ClaimFiles with the same request_id returns the files of the
// first attempt (those the run still holds), never a second set.
var creatingMethods = map[string]bool{
	"/metad.v1.FileService/RegisterFile":        true,
	"/metad.v1.FileService/RegisterFiles":       true,
	"/metad.v1.FileService/ClaimFiles":          true,
	"/metad.v1.TaskService/RegisterTask":        true,
	"/metad.v1.TaskLogService/StartRun":         true,
	"/metad.v1.DependencyService/AddDependency": true,
}

// idempotentMethods change state and answer a retry of a call that took
// effect as the first call did (see the proto comments): CompleteFile and
// FinishRun (replayed=true), Heartbeat (extends the lease again),
// CancelRun (replayed=true) and RecordOutputs (registration dedupes).
var idempotentMethods = map[string]bool{
	"/metad.v1.FileService/CompleteFile":     true,
	"/metad.v1.TaskLogService/FinishRun":     true,
	"/metad.v1.TaskLogService/Heartbeat":     true,
	"/metad.v1.TaskLogService/CancelRun":     true,
	"/metad.v1.TaskLogService/RecordOutputs": true,
}

// KindOf classifies a full gRPC method name ("/metad.v1.FileService/GetFile").
// Methods of other packages are Once.
func KindOf(fullMethod string) CallKind {
	if creatingMethods[fullMethod] {
		return Creating
	}
	if idempotentMethods[fullMethod] {
		return Idempotent
	}
	if !strings.HasPrefix(fullMethod, "/metad.v1.") {
		return Once
	}
	name := fullMethod[strings.LastIndex(fullMethod, "/")+1:]
	if strings.HasPrefix(name, "Get") || strings.HasPrefix(name, "List") {
		return Read
	}
	return Once
}

func retryableCode(c codes.Code) bool {
	return c == codes.Unavailable || c == codes.Aborted
}

// Interceptor returns the unary interceptor Dial installs: a default
// deadline, request_id for creating calls, and retries of safe calls
// (reads, creating and idempotent calls).
// Use it with grpc.WithChainUnaryInterceptor when building a connection
// by hand; opts' zero fields take the package defaults.
func Interceptor(opts Options) grpc.UnaryClientInterceptor {
	return opts.withDefaults().interceptor()
}

func (o Options) interceptor() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply interface{},
		cc *grpc.ClientConn, invoker grpc.UnaryInvoker, callOpts ...grpc.CallOption) error {
		if _, has := ctx.Deadline(); !has && o.CallTimeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, o.CallTimeout)
			defer cancel()
		}
		kind := KindOf(method)
		if kind == Creating {
			req = withRequestID(req)
		}
		backoff := o.InitialBackoff
		for attempt := 1; ; attempt++ {
			err := invoker(ctx, method, req, reply, cc, callOpts...)
			if err == nil || kind == Once || attempt >= o.MaxAttempts ||
				!retryableCode(status.Code(err)) {
				return err
			}
			// Full jitter in [backoff/2, backoff).
			wait := backoff/2 + time.Duration(rand.Int63n(int64(backoff/2)+1))
			if deadline, has := ctx.Deadline(); has && time.Until(deadline) < wait {
				return err
			}
			timer := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				timer.Stop()
				return err
			case <-timer.C:
			}
			if backoff *= 2; backoff > o.MaxBackoff {
				backoff = o.MaxBackoff
			}
		}
	}
}

// withRequestID returns req itself when it has a request_id, else a copy
// with a fresh one (the caller's message is left alone, so reusing it for a
// second, distinct call does not replay the first).
func withRequestID(req interface{}) interface{} {
	m, ok := req.(proto.Message)
	if !ok {
		return req
	}
	r := m.ProtoReflect()
	field := r.Descriptor().Fields().ByName("request_id")
	if field == nil || field.Kind() != protoreflect.StringKind || r.Get(field).String() != "" {
		return req
	}
	c := proto.Clone(m)
	c.ProtoReflect().Set(field, protoreflect.ValueOfString(NewRequestID()))
	return c
}
