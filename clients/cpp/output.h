// How metactl prints: aligned text tables for people, protobuf JSON for
// scripts, and the small formatting helpers both use.
#ifndef METAD_CLIENTS_CPP_OUTPUT_H_
#define METAD_CLIENTS_CPP_OUTPUT_H_

#include <google/protobuf/duration.pb.h>
#include <google/protobuf/message.h>
#include <google/protobuf/timestamp.pb.h>

#include <ostream>
#include <string>
#include <vector>

namespace metad::metactl {

enum class OutputFormat { kTable, kJson };

// "table" or "json"; UsageError otherwise.
OutputFormat ParseOutputFormat(const std::string& text);

// Columns separated by two spaces, each as wide as its widest cell
// (measured in UTF-8 characters); the last column is not padded.
class Table {
 public:
  explicit Table(std::vector<std::string> headers);
  void AddRow(std::vector<std::string> cells);
  size_t rows() const { return rows_.size(); }
  // Header line, then one line per row. Cells never contain newlines: they
  // are shown as "\n".
  void Print(std::ostream& out) const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// A table printed row by row as rows arrive (metactl watch): each column is
// as wide as its header or its given width; a wider cell shifts the rest of
// its own row only.
class StreamTable {
 public:
  StreamTable(std::vector<std::string> headers, std::vector<size_t> widths);
  void PrintHeader(std::ostream& out) const;
  void PrintRow(std::ostream& out, std::vector<std::string> cells) const;

 private:
  std::vector<std::string> headers_;
  std::vector<size_t> widths_;
};

// A two-column "field  value" table for one record.
class Record {
 public:
  void Add(const std::string& field, const std::string& value);
  void Print(std::ostream& out) const;

 private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

// One message as JSON (proto field names, enum names, default values
// included so that e.g. `"created": false` is always present), on one line.
std::string ToJson(const google::protobuf::Message& message);
void PrintJson(const google::protobuf::Message& message, std::ostream& out);

// "2024-03-01 10:15:02Z" (UTC, seconds); "-" when unset (zero).
std::string FormatTime(const google::protobuf::Timestamp& t);
// Parses RFC 3339 ("2024-03-01T00:00:00Z"); UsageError naming `what`.
// A flag's duration such as "90m", "1h30m" or "45s" (absl::ParseDuration),
// positive, in whole microseconds; UsageError otherwise.
google::protobuf::Duration ParseDurationFlag(const std::string& what,
                                             const std::string& text);

google::protobuf::Timestamp ParseTime(const std::string& what,
                                      const std::string& text);

// Enum value name without its prefix: FILE_STATUS_NEW -> "NEW".
std::string ShortEnumName(const std::string& full_name,
                          const std::string& prefix);

// Display width of UTF-8 text: code points, not bytes.
size_t DisplayWidth(const std::string& text);

}  // namespace metad::metactl

#endif  // METAD_CLIENTS_CPP_OUTPUT_H_
