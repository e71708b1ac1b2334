package metad

import (
	"context"
	"math/rand"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	// The descriptors KindOf reads.
	_ "github.com/metad-project/metad/clients/go/metadv1"
)

// CallKind says how a method may be retried.
type CallKind int

const (
	// Once: a repeat of the call may do it again (no idempotency_level);
	// it is never retried by the client.
	Once CallKind = iota
	// Read: NO_SIDE_EFFECTS; retried on UNAVAILABLE and ABORTED.
	Read
	// Creating: IDEMPOTENT with a request_id, which the client fills in
	// when empty; retried on UNAVAILABLE and ABORTED with the same
	// request_id.
	Creating
	// Idempotent: IDEMPOTENT without a request_id: the call changes state,
	// but the daemon answers a repeat of a call that took effect as the
	// first one (replayed=true, or the same outcome), so it is retried on
	// UNAVAILABLE and ABORTED like a read.
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

// KindOf classifies a full gRPC method name ("/metad.v1.FileService/GetFile")
// by the method's `idempotency_level` option in the proto (see
// proto/metad/v1/options.proto), looked up in the registry of compiled
// descriptors: NO_SIDE_EFFECTS is a Read; IDEMPOTENT is Creating when the
// request has a request_id (a repeat with the same key is answered as the
// first call), else Idempotent; anything else, and methods this client
// does not know, are Once.
func KindOf(fullMethod string) CallKind {
	if k, ok := kinds.Load(fullMethod); ok {
		return k.(CallKind)
	}
	k := kindFromDescriptor(fullMethod)
	kinds.Store(fullMethod, k)
	return k
}

var kinds sync.Map // full method name -> CallKind

func kindFromDescriptor(fullMethod string) CallKind {
	name := strings.TrimPrefix(fullMethod, "/")
	slash := strings.LastIndex(name, "/")
	if slash < 0 {
		return Once
	}
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(
		protoreflect.FullName(name[:slash] + "." + name[slash+1:]))
	if err != nil {
		return Once
	}
	method, ok := d.(protoreflect.MethodDescriptor)
	if !ok {
		return Once
	}
	opts, _ := method.Options().(*descriptorpb.MethodOptions)
	switch opts.GetIdempotencyLevel() {
	case descriptorpb.MethodOptions_NO_SIDE_EFFECTS:
		return Read
	case descriptorpb.MethodOptions_IDEMPOTENT:
		if requestIDField(method.Input()) != nil {
			return Creating
		}
		return Idempotent
	}
	return Once
}

// requestIDField is the message's string request_id field, if it has one.
func requestIDField(m protoreflect.MessageDescriptor) protoreflect.FieldDescriptor {
	f := m.Fields().ByName("request_id")
	if f == nil || f.Kind() != protoreflect.StringKind || f.Cardinality() == protoreflect.Repeated {
		return nil
	}
	return f
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
	field := requestIDField(r.Descriptor())
	if field == nil || r.Get(field).String() != "" {
		return req
	}
	c := proto.Clone(m)
	c.ProtoReflect().Set(field, protoreflect.ValueOfString(NewRequestID()))
	return c
}
