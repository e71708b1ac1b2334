#include "clients/cpp/output.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "clients/cpp/args.h"

namespace metad::metactl {
namespace {

std::string OneLine(const std::string& cell) {
  return absl::StrReplaceAll(cell, {{"\n", "\\n"}, {"\r", "\\r"}});
}

void AppendPadded(std::string* line, const std::string& cell, size_t width) {
  *line += cell;
  *line += std::string(width - std::min(DisplayWidth(cell), width) + 2, ' ');
}

// Writes `line` without trailing blanks (an empty last cell leaves none).
void PrintLine(std::ostream& out, std::string line) {
  line.erase(line.find_last_not_of(' ') + 1);
  out << line << '\n';
}

}  // namespace

OutputFormat ParseOutputFormat(const std::string& text) {
  if (text == "table") return OutputFormat::kTable;
  if (text == "json") return OutputFormat::kJson;
  throw UsageError(
      absl::StrCat("--output: expected table or json, got '", text, "'"));
}

size_t DisplayWidth(const std::string& text) {
  size_t n = 0;
  for (unsigned char c : text) {
    if ((c & 0xC0) != 0x80) ++n;  // count lead bytes, skip continuations
  }
  return n;
}

Table::Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  for (std::string& c : cells) c = OneLine(c);
  rows_.push_back(std::move(cells));
}

void Table::Print(std::ostream& out) const {
  std::vector<size_t> widths(headers_.size());
  for (size_t i = 0; i < headers_.size(); ++i) {
    widths[i] = DisplayWidth(headers_[i]);
    for (const auto& row : rows_) {
      widths[i] = std::max(widths[i], DisplayWidth(row[i]));
    }
  }
  auto print_line = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (size_t i = 0; i < cells.size(); ++i) {
      AppendPadded(&line, cells[i], widths[i]);
    }
    PrintLine(out, std::move(line));
  };
  print_line(headers_);
  for (const auto& row : rows_) print_line(row);
}

StreamTable::StreamTable(std::vector<std::string> headers,
                         std::vector<size_t> widths)
    : headers_(std::move(headers)), widths_(std::move(widths)) {
  widths_.resize(headers_.size());
  for (size_t i = 0; i < headers_.size(); ++i) {
    widths_[i] = std::max(widths_[i], DisplayWidth(headers_[i]));
  }
}

void StreamTable::PrintHeader(std::ostream& out) const {
  PrintRow(out, headers_);
}

void StreamTable::PrintRow(std::ostream& out,
                           std::vector<std::string> cells) const {
  cells.resize(headers_.size());
  std::string line;
  for (size_t i = 0; i < cells.size(); ++i) {
    AppendPadded(&line, OneLine(cells[i]), widths_[i]);
  }
  PrintLine(out, std::move(line));
}

void Record::Add(const std::string& field, const std::string& value) {
  fields_.emplace_back(field, OneLine(value));
}

void Record::Print(std::ostream& out) const {
  size_t width = 0;
  for (const auto& [field, value] : fields_) {
    width = std::max(width, DisplayWidth(field));
  }
  for (const auto& [field, value] : fields_) {
    PrintLine(out, field + ":" +
                       std::string(width - DisplayWidth(field) + 2, ' ') +
                       value);
  }
}

std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string json;
  // Printing a valid message cannot fail; a failure would leave json empty.
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  return json;
}

void PrintJson(const google::protobuf::Message& message, std::ostream& out) {
  out << ToJson(message) << '\n';
}

std::string FormatTime(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%SZ",
                          absl::FromUnixSeconds(t.seconds()),
                          absl::UTCTimeZone());
}

google::protobuf::Duration ParseDurationFlag(const std::string& what,
                                             const std::string& text) {
  absl::Duration d;
  if (!absl::ParseDuration(text, &d) || d <= absl::ZeroDuration()) {
    throw UsageError(absl::StrCat(
        "--", what,
        ": expected a positive duration such as 90m or 1h30m, got '", text,
        "'"));
  }
  const int64_t us = absl::ToInt64Microseconds(d);
  google::protobuf::Duration out;
  out.set_seconds(us / 1000000);
  out.set_nanos(static_cast<int32_t>(us % 1000000) * 1000);
  return out;
}

google::protobuf::Timestamp ParseTime(const std::string& what,
                                      const std::string& text) {
  google::protobuf::Timestamp t;
  if (!google::protobuf::util::TimeUtil::FromString(text, &t)) {
    throw UsageError(absl::StrCat(
        what, ": expected an RFC 3339 time such as 2024-03-01T00:00:00Z, got '",
        text, "'"));
  }
  return t;
}

std::string ShortEnumName(const std::string& full_name,
                          const std::string& prefix) {
  if (full_name.compare(0, prefix.size(), prefix) == 0) {
    return full_name.substr(prefix.size());
  }
  return full_name;
}

}  // namespace metad::metactl
