// The dependency graph as Graphviz dot, optionally coloured by each task's
// state in one batch. Pure: the caller fetches the tasks, edges, batch and
// ready set (see DepsGraph in commands_deps.cc).
#ifndef METAD_CLIENTS_CPP_DOT_H_
#define METAD_CLIENTS_CPP_DOT_H_

#include <string>
#include <vector>

#include "metad/v1/dependencies.pb.h"
#include "metad/v1/task_log.pb.h"
#include "metad/v1/tasks.pb.h"

namespace metad::metactl {

struct GraphInput {
  std::vector<v1::Task> tasks;
  std::vector<v1::Dependency> edges;
  // Colouring by batch: set has_batch; `batch` may have no tasks (a batch
  // without runs); `ready` is GetReadyTasks for that batch.
  bool has_batch = false;
  v1::Batch batch;
  std::vector<v1::Task> ready;
};

// Node fill colours by state in the batch.
inline constexpr char kColorSuccess[] = "#8fd19e";     // green
inline constexpr char kColorError[] = "#f4a09c";       // red
inline constexpr char kColorProcessing[] = "#fce38a";  // yellow
inline constexpr char kColorReady[] = "#a9cdf5";       // blue-ish
inline constexpr char kColorOther[] = "#dddddd";       // grey

// A `digraph metad { ... }`: one node per task (id "t<task id>", label the
// name and, with a batch, its state), one edge parent -> child per
// dependency. Edges to tasks missing from `tasks` still get a node. The
// state precedence is SUCCESS, ERROR, PROCESSING, ready, other.
std::string RenderDot(const GraphInput& input);

// `text` as a dot double-quoted string, quotes included.
std::string DotQuote(const std::string& text);

}  // namespace metad::metactl

#endif  // METAD_CLIENTS_CPP_DOT_H_
