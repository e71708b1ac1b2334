// Package metad is a small Go client of the metad daemon: it dials with
// sensible defaults (a deadline on every call, optional TLS and bearer
// token) and retries only what is safe to retry.
//
//	c, err := metad.Dial(ctx, "127.0.0.1:50051", metad.Options{})
//	if err != nil { ... }
//	defer c.Close()
//	resp, err := c.Files.RegisterFile(ctx, &metadv1.RegisterFileRequest{...})
//
// The service stubs (c.Files, c.Tasks, c.Runs, c.Deps) are the generated
// ones of package metadv1; errors are gRPC statuses (status.Code(err)).
//
// Retries: a call is retried, with exponential backoff and jitter, only when
// it failed with UNAVAILABLE or ABORTED and its method is declared safe to
// repeat in the proto (`option idempotency_level`, read from the compiled
// descriptors; see KindOf): NO_SIDE_EFFECTS (reads) or IDEMPOTENT (the
// daemon answers a repeat of a call that took effect as the first one). An
// IDEMPOTENT request with a request_id field and none set gets a fresh
// random one, the same for all its attempts, so a retried StartRun returns
// the run the first attempt started, and a retried ClaimFiles the files the
// first attempt claimed, instead of starting or claiming again. Every other
// call (ResetFile, ReprocessFiles, RerunTasks, DeleteTask, RemoveDependency,
// UpdateTask) is sent exactly once: the caller decides.
//
// Tasks: EnsureTask registers a task or changes only its differing settings
// with UpdateTask and the etag it read, so a concurrent change is never
// overwritten unseen.
//
// Workers: StartWorkerRun runs a task the safe way (heartbeats, claims with
// their own request_id, FinishRun naming every file received); see
// WorkerRun.
//
// Watches: WatchFiles and WatchRuns follow the audit trail live and resume
// after UNAVAILABLE from the last event by themselves; see Watch.
package metad

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io/ioutil"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/metad-project/metad/clients/go/metadv1"
)

// Defaults applied by Dial to zero-valued Options fields.
const (
	DefaultCallTimeout    = 30 * time.Second
	DefaultDialTimeout    = 10 * time.Second
	DefaultMaxAttempts    = 5
	DefaultInitialBackoff = 50 * time.Millisecond
	DefaultMaxBackoff     = 2 * time.Second
)

// Options configures Dial. The zero value dials without TLS or token and
// uses the defaults above.
type Options struct {
	// CallTimeout bounds every call (all of its attempts together) whose
	// context has no deadline of its own. 0 means DefaultCallTimeout; a
	// negative value sets no deadline.
	CallTimeout time.Duration
	// DialTimeout bounds how long Dial waits for the connection to be
	// ready. 0 means DefaultDialTimeout; a negative value makes Dial return
	// at once and connect in the background.
	DialTimeout time.Duration

	// Token is sent with every call as "authorization: Bearer <Token>".
	Token string
	// TokenFile names a file holding the token (surrounding whitespace is
	// ignored); it is read once by Dial. Ignored when Token is set.
	TokenFile string

	// TLS turns on TLS, verifying the server against the system roots or
	// CAFile. Setting CAFile, CertFile or TLSConfig implies TLS.
	TLS bool
	// CAFile is a PEM file of the certificate authorities to trust.
	CAFile string
	// CertFile and KeyFile are the PEM client certificate and key for
	// mutual TLS.
	CertFile, KeyFile string
	// ServerName overrides the name the server certificate is checked for.
	ServerName string
	// TLSConfig, when set, is used as is (the TLS fields above are ignored).
	TLSConfig *tls.Config

	// MaxAttempts is how many times a retryable call is tried in all.
	// 0 means DefaultMaxAttempts; 1 turns retries off.
	MaxAttempts int
	// InitialBackoff and MaxBackoff bound the wait between attempts (it
	// doubles from the first to the second, with jitter).
	InitialBackoff, MaxBackoff time.Duration

	// DialOptions are appended to the options Dial builds.
	DialOptions []grpc.DialOption
}

// Client is a connection to metad with the stubs of its services.
type Client struct {
	Conn  *grpc.ClientConn
	Files metadv1.FileServiceClient
	Tasks metadv1.TaskServiceClient
	Runs  metadv1.TaskLogServiceClient
	Deps  metadv1.DependencyServiceClient
	// Watch is the bare stream stub; WatchFiles and WatchRuns resume.
	Watch metadv1.WatchServiceClient
	Admin metadv1.AdminServiceClient
	// Deadlines: SetBatchDeadline, SetSourceFreshness, ListAlerts.
	Deadlines metadv1.DeadlineServiceClient
}

// Dial connects to metad at address (host:port). Unless opts.DialTimeout is
// negative it waits until the connection is ready, at most DialTimeout (or
// ctx's deadline, whichever comes first).
func Dial(ctx context.Context, address string, opts Options) (*Client, error) {
	opts = opts.withDefaults()
	dialOpts, err := opts.dialOptions()
	if err != nil {
		return nil, err
	}
	if opts.DialTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.DialTimeout)
		defer cancel()
		dialOpts = append(dialOpts, grpc.WithBlock(), grpc.WithReturnConnectionError())
	}
	conn, err := grpc.DialContext(ctx, address, dialOpts...)
	if err != nil {
		return nil, fmt.Errorf("metad: dial %s: %w", address, err)
	}
	return NewClient(conn), nil
}

// NewClient wraps an existing connection (built with Interceptor() to get
// the deadlines and retries of Dial).
func NewClient(conn *grpc.ClientConn) *Client {
	return &Client{
		Conn:      conn,
		Files:     metadv1.NewFileServiceClient(conn),
		Tasks:     metadv1.NewTaskServiceClient(conn),
		Runs:      metadv1.NewTaskLogServiceClient(conn),
		Deps:      metadv1.NewDependencyServiceClient(conn),
		Watch:     metadv1.NewWatchServiceClient(conn),
		Admin:     metadv1.NewAdminServiceClient(conn),
		Deadlines: metadv1.NewDeadlineServiceClient(conn),
	}
}

// Close closes the connection.
func (c *Client) Close() error { return c.Conn.Close() }

func (o Options) withDefaults() Options {
	if o.CallTimeout == 0 {
		o.CallTimeout = DefaultCallTimeout
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.InitialBackoff <= 0 {
		o.InitialBackoff = DefaultInitialBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.MaxBackoff < o.InitialBackoff {
		o.MaxBackoff = o.InitialBackoff
	}
	return o
}

func (o Options) dialOptions() ([]grpc.DialOption, error) {
	var out []grpc.DialOption
	tlsConfig, err := o.tlsConfig()
	if err != nil {
		return nil, err
	}
	if tlsConfig != nil {
		out = append(out, grpc.WithTransportCredentials(credentials.NewTLS(tlsConfig)))
	} else {
		out = append(out, grpc.WithInsecure())
	}
	token := o.Token
	if token == "" && o.TokenFile != "" {
		raw, err := ioutil.ReadFile(o.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("metad: token file: %w", err)
		}
		token = strings.TrimSpace(string(raw))
		if token == "" {
			return nil, fmt.Errorf("metad: token file %s is empty", o.TokenFile)
		}
	}
	if token != "" {
		out = append(out, grpc.WithPerRPCCredentials(bearerToken{token: token, secure: tlsConfig != nil}))
	}
	out = append(out, grpc.WithChainUnaryInterceptor(o.interceptor()))
	return append(out, o.DialOptions...), nil
}

func (o Options) tlsConfig() (*tls.Config, error) {
	if o.TLSConfig != nil {
		return o.TLSConfig.Clone(), nil
	}
	if !o.TLS && o.CAFile == "" && o.CertFile == "" {
		return nil, nil
	}
	c := &tls.Config{ServerName: o.ServerName, MinVersion: tls.VersionTLS12}
	if o.CAFile != "" {
		pem, err := ioutil.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("metad: CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("metad: CA file %s holds no PEM certificate", o.CAFile)
		}
		c.RootCAs = pool
	}
	if o.CertFile != "" || o.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("metad: client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// bearerToken sends "authorization: Bearer <token>" with every call. It
// also works without TLS (loopback deployments); the daemon's operator
// decides whether tokens may travel in clear text.
type bearerToken struct {
	token  string
	secure bool
}

func (b bearerToken) GetRequestMetadata(ctx context.Context, uri ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

func (b bearerToken) RequireTransportSecurity() bool { return false }

// NewRequestID returns a random idempotency key (32 hex digits).
func NewRequestID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("metad: crypto/rand: %v", err))
	}
	return hex.EncodeToString(b[:])
}
