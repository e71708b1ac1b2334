// Command loader is an example worker: it runs load_sales for one batch over
// the NEW files of a source, through the worker helper metad.StartWorkerRun
// (heartbeats, a request_id per claim, FinishRun naming every file
// received).
//
//	loader --address 127.0.0.1:50051 --batch 2024-03 --source s3://sales [--register-task]
//
// It claims the files in chunks until none is left, "loads" each one (a
// file whose name matches --fail-pattern fails alone: CompleteFile ERROR),
// and finishes the run SUCCESS; the loaded files take the run's outcome.
// It prints one JSON line:
//
//	{"task":"load_sales","batch_id":"2024-03","run_id":7,"status":"SUCCESS","loaded":[...],"failed":[...]}
//
// Exit status: 0 when the run succeeded; 2 for bad usage; otherwise the
// numeric gRPC code of the refusal (9 FAILED_PRECONDITION: not ready,
// already done, lease lost; 5 NOT_FOUND: unknown task; 14 UNAVAILABLE: no
// daemon).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/metad-project/metad/clients/go/metad"
	"github.com/metad-project/metad/clients/go/metadv1"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type result struct {
	Task    string   `json:"task"`
	BatchID string   `json:"batch_id"`
	RunID   int64    `json:"run_id"`
	Status  string   `json:"status"`
	Loaded  []string `json:"loaded"`
	Failed  []string `json:"failed"`
	Error   string   `json:"error,omitempty"`
}

// run is main without the process: it returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("loader", flag.ContinueOnError)
	fs.SetOutput(stderr)
	defaultAddress := os.Getenv("METAD_ADDRESS")
	if defaultAddress == "" {
		defaultAddress = "127.0.0.1:50051"
	}
	address := fs.String("address", defaultAddress, "metad address host:port [env METAD_ADDRESS]")
	batch := fs.String("batch", "", "batch id of the workflow (required)")
	source := fs.String("source", "", "claim only files of this source")
	task := fs.String("task", "load_sales", "task to run")
	workerID := fs.String("worker-id", "", "default host:pid")
	lease := fs.Int("lease", 30, "lease seconds (heartbeats every third of it)")
	chunk := fs.Int("chunk", 100, "files per claim (1..1000)")
	registerTask := fs.Bool("register-task", false, "register the task if it does not exist")
	failPattern := fs.String("fail-pattern", "", "glob of file names to fail (demonstrates ERROR files)")
	timeout := fs.Duration("timeout", 30*time.Second, "deadline of each call")
	tokenFile := fs.String("token-file", os.Getenv("METAD_TOKEN_FILE"),
		"file holding a bearer token [env METAD_TOKEN_FILE; else the token itself from METAD_TOKEN]")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *batch == "" {
		fmt.Fprintln(stderr, "loader: --batch is required")
		return 2
	}
	if *chunk < 1 || *chunk > 1000 {
		fmt.Fprintln(stderr, "loader: --chunk must be in 1..1000")
		return 2
	}
	if _, err := path.Match(*failPattern, ""); err != nil {
		fmt.Fprintln(stderr, "loader: --fail-pattern:", err)
		return 2
	}
	token := ""
	if *tokenFile == "" {
		token = os.Getenv("METAD_TOKEN")
	}
	res := result{Task: *task, BatchID: *batch, Loaded: []string{}, Failed: []string{}}
	report := func(code int, err error) int {
		if err != nil {
			res.Error = fmt.Sprintf("%s: %s", status.Code(err), status.Convert(err).Message())
			fmt.Fprintln(stderr, "loader:", res.Error)
		}
		out, _ := json.Marshal(res)
		fmt.Fprintln(stdout, string(out))
		return code
	}
	fail := func(err error) int {
		code := int(status.Code(err))
		if code == int(codes.OK) || code == int(codes.Unknown) {
			code = 1
		}
		return report(code, err)
	}

	ctx := context.Background()
	client, err := metad.Dial(ctx, *address, metad.Options{CallTimeout: *timeout, TokenFile: *tokenFile, Token: token})
	if err != nil { // no daemon (or an unreadable token file)
		return report(int(codes.Unavailable), status.Error(codes.Unavailable, err.Error()))
	}
	defer client.Close()
	if *registerTask {
		if _, err := client.Tasks.RegisterTask(ctx, &metadv1.RegisterTaskRequest{
			Name: *task, Description: "Load monthly sales files"}); err != nil {
			return fail(err)
		}
	}
	w, err := metad.StartWorkerRun(ctx, client, *task, *batch, metad.WorkerOptions{
		WorkerID: *workerID, LeaseSeconds: int32(*lease)})
	if err != nil {
		return fail(err)
	}
	defer w.StopHeartbeats()
	res.RunID = w.ID()
	for {
		files, err := w.ClaimFiles(ctx, int32(*chunk), *source)
		if err != nil {
			return fail(err)
		}
		if len(files) == 0 {
			break
		}
		for _, f := range files {
			// "Loading" stands in for the real work; a malformed file
			// fails alone, the others take the run's outcome at Finish.
			if bad, _ := path.Match(*failPattern, f.GetFileName()); bad {
				if _, err := w.CompleteFile(ctx, f.GetId(), metadv1.FileStatus_FILE_STATUS_ERROR,
					f.GetFileName()+": malformed row"); err != nil {
					return fail(err)
				}
				res.Failed = append(res.Failed, f.GetFileName())
				continue
			}
			res.Loaded = append(res.Loaded, f.GetFileName())
		}
	}
	done, err := w.Finish(ctx, metadv1.RunStatus_RUN_STATUS_SUCCESS, "")
	if err != nil {
		return fail(err)
	}
	res.Status = done.GetRun().GetStatus().String()[len("RUN_STATUS_"):]
	return report(0, nil)
}
