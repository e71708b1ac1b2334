package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/metad-project/metad/clients/go/internal/testdaemon"
	"github.com/metad-project/metad/clients/go/metad"
	"github.com/metad-project/metad/clients/go/metadv1"
)

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--source", "s"},                        // no batch
		{"--batch", "b", "--chunk", "0"},         // chunk out of range
		{"--batch", "b", "--fail-pattern", "[x"}, // malformed glob
		{"--batch", "b", "--no-such-flag", "x"},  // unknown flag
	} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != 2 {
			t.Errorf("run(%q) = %d, want 2 (stderr %q)", args, code, stderr.String())
		}
	}
}

func TestLoaderRunsTheTaskOverTheSource(t *testing.T) {
	d, err := testdaemon.Start("go_loader")
	if errors.Is(err, testdaemon.ErrNotConfigured) && os.Getenv("METAD_REQUIRE_DAEMON") == "" {
		t.Skip(err)
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
	c, err := metad.Dial(ctx, d.Address, metad.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	source := fmt.Sprintf("loader_%d", time.Now().UnixNano())
	var specs []*metadv1.FileSpec
	for _, n := range []string{"a.csv", "b.csv", "c.csv", "bad-1.csv", "bad-2.csv"} {
		specs = append(specs, &metadv1.FileSpec{Source: source, FileName: n})
	}
	if _, err := c.Files.RegisterFiles(ctx, &metadv1.RegisterFilesRequest{Files: specs}); err != nil {
		t.Fatal(err)
	}
	args := []string{"--address", d.Address, "--batch", "2024-03", "--source", source,
		"--register-task", "--chunk", "2", "--fail-pattern", "bad-*", "--lease", "10"}
	var stdout, stderr bytes.Buffer
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("loader exited %d: %s %s", code, stdout.String(), stderr.String())
	}
	var res result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	sort.Strings(res.Loaded)
	sort.Strings(res.Failed)
	if res.Status != "SUCCESS" || fmt.Sprint(res.Loaded) != "[a.csv b.csv c.csv]" ||
		fmt.Sprint(res.Failed) != "[bad-1.csv bad-2.csv]" || res.RunID <= 0 {
		t.Fatalf("loader printed %s", stdout.String())
	}
	list, err := c.Files.ListFiles(ctx, &metadv1.ListFilesRequest{Source: source})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range list.GetFiles() {
		want := metadv1.FileStatus_FILE_STATUS_SUCCESS
		if f.GetFileName()[:3] == "bad" {
			want = metadv1.FileStatus_FILE_STATUS_ERROR
		}
		if f.GetStatus() != want || f.GetRunId() != res.RunID {
			t.Errorf("%s: %s by run %d, want %s by run %d", f.GetFileName(), f.GetStatus(), f.GetRunId(), want, res.RunID)
		}
	}
	// The task succeeded in the batch: a second run is refused (exit 9).
	stdout.Reset()
	if code := run(args, &stdout, &stderr); code != 9 {
		t.Fatalf("second loader run exited %d, want 9 (FAILED_PRECONDITION): %s", code, stdout.String())
	}
}
