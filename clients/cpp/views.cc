#include "clients/cpp/views.h"

#include <google/protobuf/descriptor.h>

#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "clients/cpp/args.h"

namespace metad::metactl {
namespace {

std::string Id(int64_t id) { return id == 0 ? "-" : absl::StrCat(id); }

std::string OrDash(const std::string& s) { return s.empty() ? "-" : s; }

std::string Known(int64_t n) { return n < 0 ? "-" : absl::StrCat(n); }

// Accepts `text` as a value of `descriptor` in short or full form,
// excluding the UNSPECIFIED zero.
int ParseEnum(const google::protobuf::EnumDescriptor* descriptor,
              const std::string& prefix, const std::string& what,
              const std::string& text) {
  std::string upper = absl::AsciiStrToUpper(text);
  std::vector<std::string> accepted;
  for (int i = 0; i < descriptor->value_count(); ++i) {
    const auto* value = descriptor->value(i);
    if (value->number() == 0) continue;
    std::string short_name = ShortEnumName(value->name(), prefix);
    accepted.push_back(absl::AsciiStrToLower(short_name));
    if (upper == short_name || upper == value->name()) return value->number();
  }
  throw UsageError(absl::StrCat(what, ": expected one of ",
                                absl::StrJoin(accepted, ", "), ", got '", text,
                                "'"));
}

std::string Attributes(
    const google::protobuf::Map<std::string, std::string>& attributes) {
  std::map<std::string, std::string> sorted(attributes.begin(),
                                            attributes.end());
  return absl::StrJoin(sorted, ",", absl::PairFormatter("="));
}

}  // namespace

std::string StatusName(v1::FileStatus status) {
  if (status == v1::FILE_STATUS_UNSPECIFIED) return "-";
  return ShortEnumName(v1::FileStatus_Name(status), "FILE_STATUS_");
}

std::string StatusName(v1::RunStatus status) {
  if (status == v1::RUN_STATUS_UNSPECIFIED) return "-";
  return ShortEnumName(v1::RunStatus_Name(status), "RUN_STATUS_");
}

v1::FileStatus ParseFileStatus(const std::string& what,
                               const std::string& text) {
  return static_cast<v1::FileStatus>(
      ParseEnum(v1::FileStatus_descriptor(), "FILE_STATUS_", what, text));
}

v1::RunStatus ParseRunStatus(const std::string& what, const std::string& text) {
  return static_cast<v1::RunStatus>(
      ParseEnum(v1::RunStatus_descriptor(), "RUN_STATUS_", what, text));
}

Record FileRecord(const v1::File& f) {
  Record r;
  r.Add("id", absl::StrCat(f.id()));
  r.Add("source", f.source());
  r.Add("file_name", f.file_name());
  r.Add("status", StatusName(f.status()));
  r.Add("version", absl::StrCat(f.version()));
  r.Add("run_id", Id(f.run_id()));
  r.Add("checksum", OrDash(f.checksum()));
  r.Add("size_bytes", Known(f.size_bytes()));
  r.Add("row_count", Known(f.row_count()));
  r.Add("attributes", OrDash(Attributes(f.attributes())));
  r.Add("error_message", OrDash(f.error_message()));
  r.Add("create_time", FormatTime(f.create_time()));
  r.Add("update_time", FormatTime(f.update_time()));
  return r;
}

Table FilesTable(const Repeated<v1::File>& files) {
  Table t({"ID", "SOURCE", "FILE_NAME", "STATUS", "RUN", "SIZE", "ROWS",
           "UPDATED"});
  for (const v1::File& f : files) {
    t.AddRow({absl::StrCat(f.id()), f.source(), f.file_name(),
              StatusName(f.status()), Id(f.run_id()), Known(f.size_bytes()),
              Known(f.row_count()), FormatTime(f.update_time())});
  }
  return t;
}

Table FileEventsTable(const Repeated<v1::FileEvent>& events) {
  Table t({"ID", "FILE", "KIND", "FROM", "TO", "RUN", "TIME", "MESSAGE"});
  for (const v1::FileEvent& e : events) {
    t.AddRow({absl::StrCat(e.id()), absl::StrCat(e.file_id()), e.kind(),
              StatusName(e.from_status()), StatusName(e.to_status()),
              Id(e.run_id()), FormatTime(e.event_time()), e.message()});
  }
  return t;
}

Record TaskRecord(const v1::Task& task) {
  Record r;
  r.Add("id", absl::StrCat(task.id()));
  r.Add("name", task.name());
  r.Add("description", OrDash(task.description()));
  r.Add("max_attempts", absl::StrCat(task.max_attempts()));
  r.Add("default_lease_seconds", absl::StrCat(task.default_lease_seconds()));
  if (task.concurrency_limit() > 0) {  // shown only when set
    r.Add("concurrency_limit", absl::StrCat(task.concurrency_limit()));
    r.Add("concurrency_key_label",
          task.concurrency_key_label().empty()
              ? std::string("- (one limit for the task)")
              : task.concurrency_key_label());
  }
  r.Add("expected_duration",
        task.has_expected_duration()
            ? absl::FormatDuration(
                  absl::Seconds(task.expected_duration().seconds()) +
                  absl::Nanoseconds(task.expected_duration().nanos()))
            : "-");
  r.Add("create_time", FormatTime(task.create_time()));
  r.Add("update_time", FormatTime(task.update_time()));
  r.Add("etag", task.etag());
  return r;
}

Table TasksTable(const Repeated<v1::Task>& tasks) {
  Table t({"ID", "NAME", "MAX_ATTEMPTS", "LEASE_S", "DESCRIPTION"});
  for (const v1::Task& task : tasks) {
    t.AddRow({absl::StrCat(task.id()), task.name(),
              absl::StrCat(task.max_attempts()),
              absl::StrCat(task.default_lease_seconds()), task.description()});
  }
  return t;
}

Table TasksAtDepthTable(const Repeated<v1::TaskAtDepth>& tasks) {
  Table t({"DEPTH", "ID", "NAME"});
  for (const v1::TaskAtDepth& td : tasks) {
    t.AddRow({absl::StrCat(td.depth()), absl::StrCat(td.task().id()),
              td.task().name()});
  }
  return t;
}

Table PlanTable(const Repeated<v1::ExecutionLayer>& layers) {
  Table t({"LAYER", "ID", "NAME"});
  for (int i = 0; i < layers.size(); ++i) {
    for (const v1::Task& task : layers[i].tasks()) {
      t.AddRow({absl::StrCat(i), absl::StrCat(task.id()), task.name()});
    }
  }
  return t;
}

Record RunRecord(const v1::Run& run) {
  Record r;
  r.Add("id", absl::StrCat(run.id()));
  r.Add("task", absl::StrCat(run.task_name(), " (", run.task_id(), ")"));
  r.Add("batch_id", run.batch_id());
  r.Add("status", StatusName(run.status()));
  r.Add("attempt", absl::StrCat(run.attempt()));
  r.Add("worker_id", OrDash(run.worker_id()));
  r.Add("lease_expire_time", FormatTime(run.lease_expire_time()));
  r.Add("error_message", OrDash(run.error_message()));
  r.Add("start_time", FormatTime(run.start_time()));
  r.Add("heartbeat_time", FormatTime(run.heartbeat_time()));
  r.Add("end_time", FormatTime(run.end_time()));
  r.Add("request_id", OrDash(run.request_id()));
  // Only when set, so the record of an ordinary run stays as it was.
  if (run.cancelled()) r.Add("cancelled", "true");
  if (run.superseded()) r.Add("superseded", "true");
  if (!run.labels().empty()) {
    // Sorted: a proto map's order is unspecified.
    std::map<std::string, std::string> labels(run.labels().begin(),
                                              run.labels().end());
    std::string text;
    for (const auto& [k, v] : labels) {
      absl::StrAppend(&text, text.empty() ? "" : ",", k, "=", v);
    }
    r.Add("labels", text);
  }
  return r;
}

Table RunsTable(const Repeated<v1::Run>& runs) {
  Table t({"ID", "TASK", "BATCH", "STATUS", "ATTEMPT", "WORKER", "STARTED",
           "ENDED", "ERROR"});
  for (const v1::Run& run : runs) {
    t.AddRow({absl::StrCat(run.id()), run.task_name(), run.batch_id(),
              absl::StrCat(StatusName(run.status()),
                           run.cancelled() ? " (cancelled)" : "",
                           run.superseded() ? " (superseded)" : ""),
              absl::StrCat(run.attempt()), OrDash(run.worker_id()),
              FormatTime(run.start_time()), FormatTime(run.end_time()),
              run.error_message()});
  }
  return t;
}

Table RunEventsTable(const Repeated<v1::RunEvent>& events) {
  Table t({"ID", "RUN", "KIND", "FROM", "TO", "TIME", "MESSAGE"});
  for (const v1::RunEvent& e : events) {
    t.AddRow({absl::StrCat(e.id()), absl::StrCat(e.run_id()), e.kind(),
              StatusName(e.from_status()), StatusName(e.to_status()),
              FormatTime(e.event_time()), e.message()});
  }
  return t;
}

Table TaskEventsTable(const Repeated<v1::TaskEvent>& events) {
  Table t({"ID", "TASK", "KIND", "BATCH", "ACTOR", "TIME", "DETAIL"});
  for (const v1::TaskEvent& e : events) {
    t.AddRow({absl::StrCat(e.id()), e.task(), e.kind(), e.batch_id(), e.actor(),
              FormatTime(e.event_time()), e.detail()});
  }
  return t;
}

Record BatchRecord(const v1::Batch& batch) {
  Record r;
  r.Add("batch_id", batch.batch_id());
  r.Add("runs", absl::StrCat(batch.processing_runs(), " processing, ",
                             batch.success_runs(), " success, ",
                             batch.error_runs(), " error"));
  r.Add("first_start_time", FormatTime(batch.first_start_time()));
  r.Add("last_end_time", FormatTime(batch.last_end_time()));
  return r;
}

Table BatchTasksTable(const v1::Batch& batch) {
  Table t({"TASK_ID", "TASK", "STATUS", "ATTEMPTS", "LATEST_RUN", "DEADLINE",
           "LATE", "ERROR"});
  for (const v1::BatchTask& bt : batch.tasks()) {
    t.AddRow({absl::StrCat(bt.task_id()), bt.task_name(),
              StatusName(bt.status()), absl::StrCat(bt.attempts()),
              Id(bt.latest_run_id()), FormatTime(bt.deadline()),
              bt.late() ? "LATE" : "-", bt.latest_error_message()});
  }
  return t;
}

Table DependenciesTable(const Repeated<v1::Dependency>& deps) {
  Table t({"PARENT", "CHILD", "CREATED"});
  for (const v1::Dependency& d : deps) {
    t.AddRow({d.parent_task(), d.child_task(), FormatTime(d.create_time())});
  }
  return t;
}

}  // namespace metad::metactl
