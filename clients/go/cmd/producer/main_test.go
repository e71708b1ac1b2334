package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/metad-project/metad/clients/go/internal/testdaemon"
)

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--files", "a.csv"},                     // no source
		{"--source", "s"},                        // nothing to register
		{"--source", "s", "--attr", "novalue"},   // malformed attribute
		{"--source", "s", "--no-such-flag", "x"}, // unknown flag
	} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != 2 {
			t.Errorf("run(%q) = %d, want 2 (stderr %q)", args, code, stderr.String())
		}
	}
}

func TestProducerRegistersInChunks(t *testing.T) {
	d, err := testdaemon.Start("go_producer")
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
	source := fmt.Sprintf("producer_%d", time.Now().UnixNano())
	args := []string{"--address", d.Address, "--source", source, "--count", "1500", "--chunk", "700",
		"--files", "sales_report_2024-03.csv,sales_report_2024-04.csv", "--attr", "origin=test", "extra.csv"}
	for i, want := range []string{
		fmt.Sprintf(`{"calls":3,"created":1503,"files":1503,"source":%q}`, source),
		fmt.Sprintf(`{"calls":3,"created":0,"files":1503,"source":%q}`, source),
	} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != 0 {
			t.Fatalf("run #%d exited %d: %s", i+1, code, stderr.String())
		}
		var got, wanted map[string]interface{}
		json.Unmarshal(stdout.Bytes(), &got)
		json.Unmarshal([]byte(want), &wanted)
		if fmt.Sprint(got) != fmt.Sprint(wanted) {
			t.Fatalf("run #%d printed %s, want %s", i+1, strings.TrimSpace(stdout.String()), want)
		}
	}
	// A refused call exits 1 and names the code.
	var stdout, stderr bytes.Buffer
	if code := run([]string{"--address", d.Address, "--source", source, "--files", "ok.csv,"}, &stdout, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), "InvalidArgument") {
		t.Fatalf("empty file name: exit %d, stderr %q; want 1 and InvalidArgument", code, stderr.String())
	}
}
