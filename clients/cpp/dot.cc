#include "clients/cpp/dot.h"

#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "clients/cpp/views.h"

namespace metad::metactl {
namespace {

struct NodeStyle {
  const char* color;
  std::string state;  // second label line; empty without a batch
};

NodeStyle StyleFor(const v1::BatchTask* bt, bool ready) {
  if (bt != nullptr) {
    std::string attempts = absl::StrCat(
        bt->attempts(), bt->attempts() == 1 ? " attempt" : " attempts");
    std::string state =
        absl::StrCat(StatusName(bt->status()), " (", attempts, ")");
    switch (bt->status()) {
      case v1::RUN_STATUS_SUCCESS:
        return {kColorSuccess, state};
      case v1::RUN_STATUS_ERROR:
        return {kColorError, ready ? absl::StrCat(state, ", ready") : state};
      case v1::RUN_STATUS_PROCESSING:
        return {kColorProcessing, state};
      default:
        break;
    }
  }
  if (ready) return {kColorReady, "ready"};
  return {kColorOther, "waiting"};
}

}  // namespace

std::string DotQuote(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        break;
      default:
        out += c;
    }
  }
  out += '"';
  return out;
}

std::string RenderDot(const GraphInput& input) {
  // Tasks by id, in id order; edges may name tasks the list missed (a task
  // registered while the graph was read).
  std::map<int64_t, std::string> names;
  for (const v1::Task& t : input.tasks) names[t.id()] = t.name();
  for (const v1::Dependency& d : input.edges) {
    names.emplace(d.parent_task_id(), d.parent_task());
    names.emplace(d.child_task_id(), d.child_task());
  }
  std::map<int64_t, const v1::BatchTask*> in_batch;
  for (const v1::BatchTask& bt : input.batch.tasks()) {
    in_batch[bt.task_id()] = &bt;
  }
  std::set<int64_t> ready;
  for (const v1::Task& t : input.ready) ready.insert(t.id());

  std::string out = "digraph metad {\n";
  out += "  rankdir=LR;\n";
  if (input.has_batch) {
    absl::StrAppend(&out,
                    "  label=", DotQuote("batch " + input.batch.batch_id()),
                    ";\n  labelloc=t;\n");
  }
  absl::StrAppend(&out,
                  "  node [shape=box, style=\"rounded,filled\", "
                  "fontname=\"Helvetica\", fillcolor=",
                  DotQuote(kColorOther), "];\n");
  for (const auto& [id, name] : names) {
    absl::StrAppend(&out, "  t", id, " [label=");
    if (input.has_batch) {
      auto it = in_batch.find(id);
      NodeStyle style = StyleFor(it == in_batch.end() ? nullptr : it->second,
                                 ready.count(id) > 0);
      absl::StrAppend(&out, DotQuote(name + "\n" + style.state),
                      ", fillcolor=", DotQuote(style.color));
    } else {
      absl::StrAppend(&out, DotQuote(name));
    }
    out += "];\n";
  }
  std::set<std::pair<int64_t, int64_t>> seen;
  for (const v1::Dependency& d : input.edges) {
    if (!seen.insert({d.parent_task_id(), d.child_task_id()}).second) continue;
    absl::StrAppend(&out, "  t", d.parent_task_id(), " -> t", d.child_task_id(),
                    ";\n");
  }
  out += "}\n";
  return out;
}

}  // namespace metad::metactl
