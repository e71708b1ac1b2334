// metactl's command-line model: commands ("files register") with their
// positional arguments and flags, parsed into ParsedArgs. Flags are
// `--name value` or `--name=value`, in any position after the command words;
// a lone `--` ends flag parsing. Parsing failures throw UsageError, which the
// dispatcher turns into exit code 64 (EX_USAGE).
#ifndef METAD_CLIENTS_CPP_ARGS_H_
#define METAD_CLIENTS_CPP_ARGS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace metad::metactl {

// Exit codes that are not gRPC status codes (those are 0..16). Chosen from
// sysexits.h so that they never collide with a gRPC code such as UNKNOWN (2).
inline constexpr int kExitUsage = 64;    // EX_USAGE: bad command line
inline constexpr int kExitDataErr = 65;  // EX_DATAERR: malformed stdin input
inline constexpr int kExitNoInput = 66;  // EX_NOINPUT: unreadable file

// A mistake on the command line; `what()` is shown after "metactl: ".
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Flag {
  std::string name;  // without dashes
  // Placeholder for the value in help ("N", "SOURCE"); empty for a boolean
  // flag that takes no value.
  std::string value_name;
  std::string help;
  bool repeated = false;
};

class ParsedArgs {
 public:
  const std::vector<std::string>& positional() const { return positional_; }
  bool Has(const std::string& flag) const;
  // The last value given, or `fallback`.
  std::string Get(const std::string& flag,
                  const std::string& fallback = "") const;
  std::vector<std::string> GetAll(const std::string& flag) const;
  // Integer in [min, max]; `fallback` when absent. UsageError otherwise.
  int64_t GetInt(const std::string& flag, int64_t fallback, int64_t min,
                 int64_t max) const;

  // Used by the parser.
  void AddPositional(std::string value) {
    positional_.push_back(std::move(value));
  }
  void AddFlag(const std::string& name, std::string value) {
    flags_[name].push_back(std::move(value));
  }

 private:
  std::vector<std::string> positional_;
  std::map<std::string, std::vector<std::string>> flags_;
};

// Parses `text` as an integer in [min, max]; `what` names it in the error.
int64_t ParseInt(const std::string& what, const std::string& text, int64_t min,
                 int64_t max);

// Parses args against `flags`. UsageError for an unknown flag, a missing
// value, a value given to a boolean flag, or a non-repeated flag given twice
// with different values.
ParsedArgs ParseArgs(const std::vector<std::string>& args,
                     const std::vector<Flag>& flags);

}  // namespace metad::metactl

#endif  // METAD_CLIENTS_CPP_ARGS_H_
