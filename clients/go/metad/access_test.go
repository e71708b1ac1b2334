package metad_test

import (
	"context"
	"errors"
	"io/ioutil"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/metad-project/metad/clients/go/internal/testdaemon"
	"github.com/metad-project/metad/clients/go/metad"
	"github.com/metad-project/metad/clients/go/metadv1"
)

// The TLS and token options against a daemon serving TLS with token roles
// (--tls_cert, --tls_key, --token_file).
func TestTLSAndTokenRoles(t *testing.T) {
	dir := t.TempDir()
	cert, key, err := testdaemon.SelfSignedCert(dir)
	if err != nil {
		t.Fatal(err)
	}
	tokens := filepath.Join(dir, "tokens")
	writeFile(t, tokens, "reader reader-token-0123456789 go-reader\nworker worker-token-0123456789 go-worker\n")
	d, err := testdaemon.StartOwn("go_access", testdaemon.Config{
		Args:   []string{"--tls_cert", cert, "--tls_key", key, "--token_file", tokens},
		CAFile: cert,
	})
	if errors.Is(err, testdaemon.ErrNotConfigured) {
		t.Skip("needs METAD_BIN_DIR and METAD_TEST_PG to start a daemon with TLS:", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := d.Stop(); err != nil {
			t.Error(err)
		}
	}()
	ctx := context.Background()
	dial := func(opts metad.Options) *metad.Client {
		t.Helper()
		c, err := metad.Dial(ctx, d.Address, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	workerFile, readerFile := filepath.Join(dir, "worker"), filepath.Join(dir, "reader")
	writeFile(t, workerFile, "worker-token-0123456789\n")
	writeFile(t, readerFile, "reader-token-0123456789\n")
	spec := &metadv1.FileSpec{Source: name("tls"), FileName: "a.csv"}

	worker := dial(metad.Options{CAFile: cert, ServerName: "localhost", TokenFile: workerFile})
	reg, err := worker.Files.RegisterFile(ctx, &metadv1.RegisterFileRequest{File: spec})
	if err != nil || !reg.GetCreated() {
		t.Fatalf("RegisterFile as a worker over TLS: %v, %v", reg, err)
	}
	reader := dial(metad.Options{CAFile: cert, ServerName: "localhost", TokenFile: readerFile})
	if _, err := reader.Files.GetFile(ctx, &metadv1.GetFileRequest{Id: reg.GetFile().GetId()}); err != nil {
		t.Fatalf("GetFile as a reader: %v", err)
	}
	_, err = reader.Files.RegisterFile(ctx, &metadv1.RegisterFileRequest{File: spec})
	wantCode(t, "RegisterFile as a reader", err, codes.PermissionDenied)
	anonymous := dial(metad.Options{CAFile: cert, ServerName: "localhost"})
	_, err = anonymous.Files.GetFile(ctx, &metadv1.GetFileRequest{Id: reg.GetFile().GetId()})
	wantCode(t, "GetFile without a token", err, codes.Unauthenticated)
	wrong := dial(metad.Options{CAFile: cert, ServerName: "localhost", Token: "unknown-token-0123456789"})
	_, err = wrong.Files.GetFile(ctx, &metadv1.GetFileRequest{Id: reg.GetFile().GetId()})
	wantCode(t, "GetFile with an unknown token", err, codes.Unauthenticated)

	// Plain text to a TLS port, or TLS without trusting its certificate,
	// never connects.
	for what, opts := range map[string]metad.Options{
		"plain text":       {DialTimeout: 500 * time.Millisecond, TokenFile: workerFile},
		"untrusted server": {DialTimeout: 500 * time.Millisecond, TLS: true, ServerName: "localhost"},
	} {
		if c, err := metad.Dial(ctx, d.Address, opts); err == nil {
			_, callErr := c.Files.GetFile(ctx, &metadv1.GetFileRequest{Id: 1})
			c.Close()
			if status.Code(callErr) != codes.Unavailable {
				t.Errorf("%s: dial succeeded and GetFile gave %v, want a failed dial or UNAVAILABLE", what, callErr)
			}
		}
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := ioutil.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}
