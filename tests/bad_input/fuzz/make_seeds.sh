#!/usr/bin/env bash
# Regenerates seeds/: one well-formed request per RPC, encoded with protoc
# from text format and prefixed with the byte request_fuzzer.cc reads as the
# RPC's index (files.proto, tasks.proto, task_log.proto, dependencies.proto,
# watch.proto, each in declaration order). Run after the RPC list changes.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
proto=$here/../../../proto
out=$here/seeds
rm -rf "$out"
mkdir -p "$out"
index=0
seed() {  # FILE REQUEST_TYPE TEXT
  local name
  name=$(printf '%02d-%s' "$index" "$2")
  {
    printf "\\x$(printf '%02x' "$index")"
    printf '%s' "$3" | protoc --encode="metad.v1.$2" -I "$proto" "metad/v1/$1"
  } >"$out/$name"
  index=$((index + 1))
}
f=files.proto
seed $f RegisterFileRequest 'file { source: "s3://bucket" file_name: "sales_2024-03.csv" checksum: "sha256:ab" size_bytes: 10 attributes { key: "k" value: "v" } } request_id: "r1"'
seed $f RegisterFilesRequest 'files { source: "s" file_name: "a" } files { source: "s" file_name: "b" row_count: 3 }'
seed $f GetFileRequest 'source: "s" file_name: "a"'
seed $f ListFilesRequest 'page_size: 10 page_token: "djE6MTI6YWJj" status: FILE_STATUS_NEW source: "s" run_id: 3 created_after { seconds: 1 }'
seed $f ClaimFilesRequest 'run_id: 1 source: "s" limit: 100'
seed $f CompleteFileRequest 'file_id: 1 run_id: 2 status: FILE_STATUS_ERROR error_message: "bad row 7"'
seed $f ResetFileRequest 'file_id: 1 reason: "retry"'
seed $f ListFileEventsRequest 'file_id: 1 page_size: 5'
t=tasks.proto
seed $t RegisterTaskRequest 'name: "load_sales" description: "loads" max_attempts: 3 default_lease_seconds: 60'
seed $t UpdateTaskRequest 'task { name: "load_sales" max_attempts: 4 } update_mask { paths: "max_attempts" } etag: "1-1"'
seed $t GetTaskRequest 'name: "load_sales"'
seed $t ListTasksRequest 'page_size: 2 name_prefix: "load_"'
seed $t DeleteTaskRequest 'id: 4'
r=task_log.proto
seed $r StartRunRequest 'task: "load_sales" batch_id: "2024-03" worker_id: "host:1" lease_seconds: 30 request_id: "q"'
seed $r HeartbeatRequest 'run_id: 1 lease_seconds: 30'
seed $r FinishRunRequest 'run_id: 1 status: RUN_STATUS_ERROR error_message: "boom"'
seed $r GetRunRequest 'run_id: 1'
seed $r ListRunsRequest 'page_size: 3 task: "load_sales" batch_id: "b" status: RUN_STATUS_SUCCESS started_before { seconds: 1700000000 }'
seed $r GetBatchRequest 'batch_id: "2024-03"'
seed $r ListRunEventsRequest 'run_id: 1 batch_id: "b" page_size: 4'
d=dependencies.proto
seed $d AddDependencyRequest 'parent_task: "load_sales" child_task: "calculate_profit"'
seed $d RemoveDependencyRequest 'parent_task: "load_sales" child_task: "calculate_profit"'
seed $d ListDependenciesRequest 'task: "calculate_profit" direction: DIRECTION_PARENTS'
seed $d GetUpstreamRequest 'task: "calculate_profit" max_depth: 2'
seed $d GetDownstreamRequest 'task: "load_sales"'
seed $d GetExecutionPlanRequest 'targets: "calculate_profit" targets: "load_sales"'
seed $d GetReadyTasksRequest 'batch_id: "2024-03" targets: "calculate_profit"'
w=watch.proto
seed $w WatchFilesRequest 'after_event_id: -1 source: "sales" status: FILE_STATUS_ERROR file_id: 3'
seed $w WatchRunsRequest 'after_event_id: 12 batch_id: "2024-03" task: "load_sales" status: RUN_STATUS_SUCCESS run_id: 2'
echo "wrote $index seeds to $out"
