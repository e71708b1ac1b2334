// Every limit the API puts on a request field, in one place. The proto files
// document the same numbers for clients; validation.h checks against them.
#ifndef METAD_DAEMON_RPC_LIMITS_H_
#define METAD_DAEMON_RPC_LIMITS_H_

#include <cstddef>
#include <cstdint>

namespace metad::daemon {

// Shared by every RPC.
inline constexpr int32_t kDefaultPageSize = 100;
inline constexpr int32_t kMaxPageSize = 1000;
inline constexpr size_t kMaxRequestIdBytes = 128;
inline constexpr size_t kMaxMessageBytes = 4096;  // error messages
inline constexpr size_t kMaxTaskNameBytes = 128;
inline constexpr size_t kMaxBatchIdBytes = 128;

// Files (files.proto: FileSpec, RegisterFiles, ClaimFiles).
inline constexpr size_t kMaxSourceBytes = 256;
inline constexpr size_t kMaxFileNameBytes = 1024;
inline constexpr size_t kMaxChecksumBytes = 256;
inline constexpr int kMaxAttributes = 64;
inline constexpr size_t kMaxAttributeKeyBytes = 256;
inline constexpr size_t kMaxAttributeValueBytes = 4096;
inline constexpr int kMaxRegisterBatch = 1000;
inline constexpr int kMaxClaimLimit = 1000;
// Files a FinishRun may name (a run claims at most 1000 per call, but may
// claim many times); 100000 ids are under 1 MiB on the wire.
inline constexpr int kMaxFinishFileIds = 100000;
// ReprocessFiles: ids per call, and files per call by filter.
inline constexpr int kMaxReprocessLimit = 1000;

// Outputs and lineage (task_log.proto RecordOutputs / FinishRun outputs,
// files.proto GetLineage).
inline constexpr int kMaxOutputs = 1000;
inline constexpr int32_t kDefaultLineageDepth = 3;
inline constexpr int32_t kMaxLineageDepth = 16;
inline constexpr int32_t kDefaultLineagePageSize = 500;
inline constexpr int32_t kMaxLineagePageSize = 5000;
// The walk stops after this many edges (the answer says it was cut).
inline constexpr int32_t kMaxLineageEdges = 100000;

// Tasks and runs (tasks.proto, task_log.proto).
inline constexpr int32_t kMaxTaskAttempts = 1000;
inline constexpr int32_t kMaxLeaseSeconds = 86400;
inline constexpr size_t kMaxWorkerIdBytes = 256;
inline constexpr int kMaxRerunTasks = 100;  // RerunTasksRequest.tasks
// Run labels (StartRunRequest.labels): keys are [A-Za-z0-9._/-], starting
// with a letter or digit, so that a selector term can name them.
inline constexpr int kMaxRunLabels = 64;
inline constexpr size_t kMaxLabelKeyBytes = 128;
inline constexpr size_t kMaxLabelValueBytes = 256;

// Dependencies (dependencies.proto).
inline constexpr int32_t kMaxWalkDepth = 1000;
inline constexpr int kMaxTargets = 1000;
// ListDependencies and the graph reads: the default is the maximum, so a
// caller that does not page gets whole answers for graphs up to this size.
inline constexpr int32_t kDefaultGraphPageSize = 10000;
inline constexpr int32_t kMaxGraphPageSize = 10000;

// PruneHistory (admin.proto).
inline constexpr int64_t kMinOlderThanSeconds = 3600;
inline constexpr int64_t kMaxOlderThanSeconds = int64_t{100} * 366 * 86400;
inline constexpr int32_t kMaxPruneBatchSize = 10000;
inline constexpr int32_t kMaxPruneBatches = 1000000;

}  // namespace metad::daemon

#endif  // METAD_DAEMON_RPC_LIMITS_H_
