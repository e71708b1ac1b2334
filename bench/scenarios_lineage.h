// The scenarios of the calls issue 16 measures at the sizes: lineage
// (GetLineage, depth 10) and label-list (ListRuns with a label_selector,
// ListFiles with an attribute_selector), both over one seeded data set of
// pipelines (bench/scenarios_lineage.cc), and the growth fill (files and
// file events by SQL) that the growth comparison measures against.
#ifndef METAD_BENCH_SCENARIOS_LINEAGE_H_
#define METAD_BENCH_SCENARIOS_LINEAGE_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "bench/scenarios.h"

namespace metad::bench {

// Seeds settings.lineage_pipelines pipelines unless they are there: each
// 10 levels of 10 runs (tasks bench-lineage-L0..L9, labelled) and 10 files
// (attributed); a run of level l >= 1 claimed 2 files of level l-1 (CLAIMED
// events) and produced 1 file of level l (run_outputs). 10,000 pipelines:
// 1,000,000 runs, 1,000,000 files, 1,800,000 CLAIMED events.
absl::Status SeedPipelines(Env* env);

// GetLineage from a random level-5 file, both directions, max_depth 10: one
// caller (lineage-1), then the configured concurrency (lineage).
absl::Status Lineage(Env* env, std::vector<Figures>* out);

// ListRuns (page 100) with label_selector "team=tK,level=L" and ListFiles
// with the same attribute_selector, K and L random per call (0.1% of the
// rows match): label-runs-1, label-runs, label-files-1, label-files.
absl::Status LabelList(Env* env, std::vector<Figures>* out);

// Grows public.files to `files` rows (SUCCESS files of source
// bench-history) and public.file_events to `events` rows (REGISTERED events
// of those files, and more for the same files past one per file), in
// chunks, then VACUUM ANALYZE. For the growth comparison: done before the
// measured run, outside it.
absl::Status FillHistory(Env* env, int64_t files, int64_t events);

}  // namespace metad::bench

#endif  // METAD_BENCH_SCENARIOS_LINEAGE_H_
