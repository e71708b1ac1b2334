// `metactl lineage --dot`: the dot text of a lineage graph.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "clients/cpp/dot.h"
#include "clients/cpp/lineage_dot.h"

namespace metad::metactl {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

void AddEdge(v1::GetLineageResponse* g, int64_t run, int64_t file,
             v1::LineageEdgeKind kind, int depth) {
  v1::LineageEdge* e = g->add_edges();
  e->set_run_id(run);
  e->set_file_id(file);
  e->set_kind(kind);
  e->set_depth(depth);
}

TEST(RenderLineageDot, FilesRunsAndEdgesEachWay) {
  v1::GetLineageResponse g;
  v1::File* in = g.add_files();
  in->set_id(1);
  in->set_source("raw");
  in->set_file_name("in \"0\".csv");
  in->set_status(v1::FILE_STATUS_SUCCESS);
  v1::File* out = g.add_files();
  out->set_id(2);
  out->set_source("mid");
  out->set_file_name("mid0");
  out->set_status(v1::FILE_STATUS_NEW);
  v1::Run* run = g.add_runs();
  run->set_id(7);
  run->set_task_name("load");
  run->set_batch_id("b1");
  run->set_status(v1::RUN_STATUS_SUCCESS);
  AddEdge(&g, 7, 1, v1::LINEAGE_EDGE_KIND_INPUT, 1);
  AddEdge(&g, 7, 2, v1::LINEAGE_EDGE_KIND_OUTPUT, 1);
  AddEdge(&g, 7, 2, v1::LINEAGE_EDGE_KIND_OUTPUT, 1);  // repeated: drawn once
  AddEdge(&g, 9, 2, v1::LINEAGE_EDGE_KIND_INPUT, 2);   // run 9 not carried

  const std::string dot = RenderLineageDot(g, 1, 0);
  EXPECT_THAT(dot, HasSubstr("digraph lineage {\n  rankdir=LR;\n"));
  EXPECT_THAT(dot, HasSubstr("  f1 [shape=ellipse, fillcolor=\"#ffffff\", "
                             "label=\"raw/in \\\"0\\\".csv\\nfile 1, "
                             "SUCCESS\", penwidth=3];\n"));
  EXPECT_THAT(dot, HasSubstr("  f2 [shape=ellipse, fillcolor=\"#ffffff\", "
                             "label=\"mid/mid0\\nfile 2, NEW\"];\n"));
  EXPECT_THAT(dot, HasSubstr(absl::StrCat(
                       "  r7 [shape=box, label=\"load\\nrun 7, batch "
                       "b1\\nSUCCESS\", fillcolor=\"",
                       kColorSuccess, "\"];\n")));
  EXPECT_THAT(dot, HasSubstr("  r9 [shape=box, label=\"run 9\""));
  EXPECT_THAT(dot, HasSubstr("  f1 -> r7;\n  r7 -> f2;\n  f2 -> r9;\n}\n"));
  EXPECT_EQ(dot.find("r7 -> f2"), dot.rfind("r7 -> f2"));
}

TEST(RenderLineageDot, TheStartRunIsBoldEvenWithoutEdges) {
  v1::GetLineageResponse g;
  const std::string dot = RenderLineageDot(g, 0, 5);
  EXPECT_THAT(dot, HasSubstr("  r5 [shape=box, label=\"run 5\", fillcolor=\"" +
                             std::string(kColorOther) + "\", penwidth=3];\n"));
  EXPECT_THAT(dot, Not(HasSubstr("->")));
}

}  // namespace
}  // namespace metad::metactl
