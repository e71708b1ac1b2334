// A small flag parser for metad's subcommands: --name=value or --name value,
// with an environment variable behind each flag, an optional config file of
// `name = value` lines, and a generated --help.
//
// Precedence, highest first: command line, environment, config file, default.
#ifndef METAD_DAEMON_APP_FLAGS_H_
#define METAD_DAEMON_APP_FLAGS_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace metad::daemon {

// How a value is shown by --print-config.
enum class Mask {
  kNone,    // as is
  kUrl,     // a database URL: its password is masked
  kSecret,  // the whole value is masked when set
};

struct FlagSpec {
  std::string name;           // without dashes, e.g. "listen"
  std::string env;            // e.g. "METAD_LISTEN"; empty for none
  std::string default_value;  // as text
  std::string help;
  bool is_bool = false;  // --name alone means true
  Mask mask = Mask::kNone;
  // Refused in a config file (e.g. --config itself, --print_config).
  bool command_line_only = false;
};

class FlagSet {
 public:
  explicit FlagSet(std::vector<FlagSpec> specs);

  // Parses argv[first..]: flags in any order, positional arguments returned
  // in order. Values: command line, else environment, else default.
  // INVALID_ARGUMENT for an unknown flag or a missing value.
  absl::Status Parse(int argc, char** argv, int first,
                     std::vector<std::string>* positional);

  // Reads a config file (format in ParseConfigText) and takes each value
  // for a flag that neither the command line nor the environment set.
  // INVALID_ARGUMENT naming the file when it cannot be read, and file:line
  // and key for a syntax error, an unknown or repeated key, or a key that
  // belongs on the command line only.
  absl::Status LoadConfigFile(const std::string& path);
  // The same on text already read; `origin` names it in messages.
  //
  // Format: one `key = value` per line; keys are flag names (with `_` or
  // `-`); blank lines and lines starting with `#` are ignored, as is a `#`
  // after whitespace to the end of the line; a value may be written in
  // double quotes (kept verbatim, may hold `#`); an empty value is "".
  absl::Status ParseConfigText(const std::string& text,
                               const std::string& origin);

  bool help_requested() const { return help_requested_; }
  std::string Help() const;

  // Every flag as a `key = value  # source` line, secrets masked (see Mask);
  // the output is itself a valid config file.
  std::string PrintConfig() const;

  std::string Get(const std::string& name) const;
  // Where the value came from: "default", "flag", "env METAD_X" or
  // "file PATH:LINE".
  std::string Source(const std::string& name) const;
  // INVALID_ARGUMENT naming the flag (and its source unless the command
  // line) when not an integer in [min, max].
  absl::StatusOr<int> GetInt(const std::string& name, int min, int max) const;
  absl::StatusOr<double> GetSeconds(const std::string& name) const;
  absl::StatusOr<bool> GetBool(const std::string& name) const;
  // "--name" followed by " (SOURCE)" unless it came from the command line:
  // the start of every message about a bad value.
  std::string Describe(const std::string& name) const;

 private:
  const FlagSpec* Find(const std::string& name) const;

  std::vector<FlagSpec> specs_;
  std::map<std::string, std::string> values_;
  std::map<std::string, std::string> sources_;
  bool help_requested_ = false;
};

}  // namespace metad::daemon

#endif  // METAD_DAEMON_APP_FLAGS_H_
