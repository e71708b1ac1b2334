#!/usr/bin/env bash
# Install test: a module outside this repository uses the Go client the way
# README.md tells a user to, offline. In a fresh temporary folder it writes
# `module example.com/consumer`, which requires
# github.com/metad-project/metad/clients/go and holds a tiny worker; a go.work
# from offline_gowork.sh (`use` of the consumer and of this checkout, Debian's
# sources for the rest) builds it with GOPROXY=off; the worker then registers
# files, runs a task over them with metad.StartWorkerRun against a real
# daemon and prints what it did, and metactl confirms it.
# Needs METAD_BIN_DIR (metactl) and METAD_TEST_PG, or METAD_ADDRESS.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/../../scripts/daemon_for_tests.sh"
work=$(mktemp -d /tmp/metad-go-install.XXXXXX)
cleanup() {
  [ -z "${METAD_PID:-}" ] || stop_test_daemon || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL (go install test): $*" >&2; exit 1; }

mkdir "$work/consumer"
cd "$work/consumer"
cat >go.mod <<'MOD'
module example.com/consumer

go 1.19

require github.com/metad-project/metad/clients/go v0.0.0-00010101000000-000000000000
MOD
cat >main.go <<'GO'
// A worker outside the metad repository: registers two files of source
// consumer_TAG, runs task consume_TAG over them with metad.StartWorkerRun,
// prints JSON.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/metad-project/metad/clients/go/metad"
	"github.com/metad-project/metad/clients/go/metadv1"
)

func main() {
	ctx := context.Background()
	task, source := "consume_"+os.Args[1], "consumer_"+os.Args[1]
	c, err := metad.Dial(ctx, os.Getenv("METAD_ADDRESS"), metad.Options{})
	check(err)
	defer c.Close()
	_, err = c.Tasks.RegisterTask(ctx, &metadv1.RegisterTaskRequest{Name: task})
	check(err)
	_, err = c.RegisterInChunks(ctx, []*metadv1.FileSpec{
		{Source: source, FileName: "one.csv"}, {Source: source, FileName: "two.csv"}}, 0, nil)
	check(err)
	w, err := metad.StartWorkerRun(ctx, c, task, "b1", metad.WorkerOptions{LeaseSeconds: 60})
	check(err)
	files, err := w.ClaimFiles(ctx, 10, source)
	check(err)
	resp, err := w.Finish(ctx, metadv1.RunStatus_RUN_STATUS_SUCCESS, "")
	check(err)
	out, _ := json.Marshal(map[string]interface{}{
		"claimed": len(files), "finished": resp.GetFilesFinished(), "status": resp.GetRun().GetStatus().String()})
	fmt.Println(string(out))
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
GO

# What README.md ("Use it from your module, offline") tells a user to do.
"$here/offline_gowork.sh" "$work/gowork" "$work/consumer"
export GOWORK="$work/gowork/go.work" GOPROXY=off GOFLAGS= GO111MODULE=on
go build -o "$work/consumer-worker" . || fail "the consumer module does not build"
[ ! -e go.sum ] || fail "the build wrote a go.sum: something was checked against a registry"

# The daemon of METAD_ADDRESS when there is no cluster to start one on.
if [ -n "${METAD_TEST_PG:-}" ] || [ -z "${METAD_ADDRESS:-}" ]; then
  start_test_daemon go_install
fi
tag="$$_$RANDOM"
out=$("$work/consumer-worker" "$tag") || fail "the consumer worker failed: $out"
echo "consumer worker: $out"
want='{"claimed":2,"finished":2,"status":"RUN_STATUS_SUCCESS"}'
[ "$out" = "$want" ] || fail "got $out, want $want"
"$METAD_BIN_DIR/metactl" --address "$METAD_ADDRESS" files list --source "consumer_$tag" --status success |
  grep -c "\.csv" | grep -qx 2 || fail "metactl does not show the two files SUCCESS"
echo "go install test: a consumer module built offline ran a worker"
