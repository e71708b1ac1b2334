// A GetLineage graph as Graphviz dot (metactl lineage --dot). Pure: the
// caller fetches every page (commands_lineage.cc). Reuses dot.h's quoting
// and colours.
#ifndef METAD_CLIENTS_CPP_LINEAGE_DOT_H_
#define METAD_CLIENTS_CPP_LINEAGE_DOT_H_

#include <cstdint>
#include <string>

#include "metad/v1/files.pb.h"

namespace metad::metactl {

// A `digraph lineage { ... }`: files as ellipses ("f<id>", labelled
// source/file_name and status), runs as boxes ("r<id>", labelled task, run
// id, batch and status, filled by status), an INPUT edge file -> run, an
// OUTPUT edge run -> file. The start (file `start_file_id` or run
// `start_run_id`, the other 0) is drawn bold. Nodes an edge names but the
// response lacks get a bare label.
std::string RenderLineageDot(const v1::GetLineageResponse& lineage,
                             int64_t start_file_id, int64_t start_run_id);

}  // namespace metad::metactl

#endif  // METAD_CLIENTS_CPP_LINEAGE_DOT_H_
