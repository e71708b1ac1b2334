// A small flag parser for metad's subcommands: --name=value or --name value,
// with an environment variable behind each flag and a generated --help.
#ifndef METAD_DAEMON_FLAGS_H_
#define METAD_DAEMON_FLAGS_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace metad::daemon {

struct FlagSpec {
  std::string name;           // without dashes, e.g. "listen"
  std::string env;            // e.g. "METAD_LISTEN"; empty for none
  std::string default_value;  // as text
  std::string help;
  bool is_bool = false;       // --name alone means true
};

class FlagSet {
 public:
  explicit FlagSet(std::vector<FlagSpec> specs);

  // Parses argv[first..]: flags in any order, positional arguments returned
  // in order. Values: command line, else environment, else default.
  // INVALID_ARGUMENT for an unknown flag or a missing value.
  absl::Status Parse(int argc, char** argv, int first,
                     std::vector<std::string>* positional);

  bool help_requested() const { return help_requested_; }
  std::string Help() const;

  std::string Get(const std::string& name) const;
  // INVALID_ARGUMENT naming the flag when not an integer in [min, max].
  absl::StatusOr<int> GetInt(const std::string& name, int min, int max) const;
  absl::StatusOr<double> GetSeconds(const std::string& name) const;
  absl::StatusOr<bool> GetBool(const std::string& name) const;

 private:
  const FlagSpec* Find(const std::string& name) const;

  std::vector<FlagSpec> specs_;
  std::map<std::string, std::string> values_;
  bool help_requested_ = false;
};

}  // namespace metad::daemon

#endif  // METAD_DAEMON_FLAGS_H_
