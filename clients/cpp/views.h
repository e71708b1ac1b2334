// How each metad resource looks in metactl's text output, and the status
// names metactl accepts on its command line.
#ifndef METAD_CLIENTS_CPP_VIEWS_H_
#define METAD_CLIENTS_CPP_VIEWS_H_

#include <google/protobuf/repeated_ptr_field.h>

#include <string>

#include "clients/cpp/output.h"
#include "metad/v1/dependencies.pb.h"
#include "metad/v1/files.pb.h"
#include "metad/v1/task_log.pb.h"
#include "metad/v1/tasks.pb.h"

namespace metad::metactl {

template <typename T>
using Repeated = google::protobuf::RepeatedPtrField<T>;

// "NEW", "SUCCESS", ... ("-" for UNSPECIFIED).
std::string StatusName(v1::FileStatus status);
std::string StatusName(v1::RunStatus status);

// Case-insensitive "new" / "NEW" / "FILE_STATUS_NEW". UsageError naming
// `what` and listing the accepted values otherwise.
v1::FileStatus ParseFileStatus(const std::string& what,
                               const std::string& text);
v1::RunStatus ParseRunStatus(const std::string& what, const std::string& text);

Record FileRecord(const v1::File& file);
Table FilesTable(const Repeated<v1::File>& files);
Table FileEventsTable(const Repeated<v1::FileEvent>& events);

Record TaskRecord(const v1::Task& task);
Table TasksTable(const Repeated<v1::Task>& tasks);
Table TasksAtDepthTable(const Repeated<v1::TaskAtDepth>& tasks);
Table PlanTable(const Repeated<v1::ExecutionLayer>& layers);

Record RunRecord(const v1::Run& run);
Table RunsTable(const Repeated<v1::Run>& runs);
Table RunEventsTable(const Repeated<v1::RunEvent>& events);
// Task events (ListTaskEvents): registry and graph changes, reopenings.
Table TaskEventsTable(const Repeated<v1::TaskEvent>& events);
Record BatchRecord(const v1::Batch& batch);
Table BatchTasksTable(const v1::Batch& batch);

Table DependenciesTable(const Repeated<v1::Dependency>& deps);

}  // namespace metad::metactl

#endif  // METAD_CLIENTS_CPP_VIEWS_H_
