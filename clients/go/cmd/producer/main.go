// Command producer registers files of one source with metad, in chunks of
// RegisterFiles calls (one transaction each). Registering a file twice is
// harmless: metad remembers every file forever and reports it as not new.
//
//	producer --address 127.0.0.1:50051 --source sales --files sales_report_2024-03.csv
//	producer --source sales --count 5000 --pattern 'part-%05d.csv'
//
// It prints one JSON line: {"source":..,"files":..,"created":..,"calls":..}.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc/status"

	"github.com/metad-project/metad/clients/go/metad"
	"github.com/metad-project/metad/clients/go/metadv1"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type attrFlag map[string]string

func (a attrFlag) String() string { return fmt.Sprint(map[string]string(a)) }

func (a attrFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want KEY=VALUE, got %q", v)
	}
	a[k] = val
	return nil
}

// run is main without the process: it returns the exit code (0 done,
// 1 a call failed, 2 bad usage).
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("producer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	defaultAddress := os.Getenv("METAD_ADDRESS")
	if defaultAddress == "" {
		defaultAddress = "127.0.0.1:50051"
	}
	address := fs.String("address", defaultAddress, "metad address host:port [env METAD_ADDRESS]")
	source := fs.String("source", "", "source of the files (required)")
	files := fs.String("files", "", "comma-separated file names to register (more may follow as arguments)")
	count := fs.Int("count", 0, "also register this many generated names (see --pattern)")
	pattern := fs.String("pattern", "file-%06d.csv", "fmt pattern of generated names; gets 1..count")
	chunk := fs.Int("chunk", metad.MaxRegisterBatch, "files per RegisterFiles call (1..1000)")
	attrs := attrFlag{}
	fs.Var(attrs, "attr", "KEY=VALUE attribute of every file (repeatable)")
	timeout := fs.Duration("timeout", 30*time.Second, "deadline of each call")
	tokenFile := fs.String("token-file", os.Getenv("METAD_TOKEN_FILE"),
		"file holding a bearer token [env METAD_TOKEN_FILE; else the token itself from METAD_TOKEN]")
	useTLS := fs.Bool("tls", false, "connect with TLS")
	caFile := fs.String("ca-file", "", "PEM certificate authorities to trust (implies --tls)")
	serverName := fs.String("server-name", "", "name to check the server certificate against")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *source == "" {
		fmt.Fprintln(stderr, "producer: --source is required")
		return 2
	}
	var names []string
	if *files != "" {
		names = append(names, strings.Split(*files, ",")...)
	}
	names = append(names, fs.Args()...)
	for i := 1; i <= *count; i++ {
		names = append(names, fmt.Sprintf(*pattern, i))
	}
	if len(names) == 0 {
		fmt.Fprintln(stderr, "producer: nothing to register: give --files, names or --count")
		return 2
	}
	specs := make([]*metadv1.FileSpec, len(names))
	for i, name := range names {
		specs[i] = &metadv1.FileSpec{Source: *source, FileName: name, Attributes: attrs}
	}

	token := ""
	if *tokenFile == "" {
		token = os.Getenv("METAD_TOKEN")
	}
	ctx := context.Background()
	client, err := metad.Dial(ctx, *address, metad.Options{
		CallTimeout: *timeout,
		TokenFile:   *tokenFile,
		Token:       token,
		TLS:         *useTLS,
		CAFile:      *caFile,
		ServerName:  *serverName,
	})
	if err != nil {
		fmt.Fprintln(stderr, "producer:", err)
		return 1
	}
	defer client.Close()

	sum, err := client.RegisterInChunks(ctx, specs, *chunk, func(r *metadv1.RegisterFilesResponse) {
		fmt.Fprintf(stderr, "producer: registered %d files, %d new\n", len(r.GetResults()), r.GetCreatedCount())
	})
	if err != nil {
		fmt.Fprintf(stderr, "producer: %v (code %s)\n", err, status.Code(err))
		return 1
	}
	out, _ := json.Marshal(map[string]interface{}{
		"source": *source, "files": sum.Files, "created": sum.Created, "calls": sum.Calls,
	})
	fmt.Fprintln(stdout, string(out))
	return 0
}
