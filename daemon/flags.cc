#include "daemon/flags.h"

#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace metad::daemon {

FlagSet::FlagSet(std::vector<FlagSpec> specs) : specs_(std::move(specs)) {
  for (const FlagSpec& spec : specs_) {
    const char* env = spec.env.empty() ? nullptr : std::getenv(spec.env.c_str());
    values_[spec.name] = env != nullptr ? env : spec.default_value;
  }
}

const FlagSpec* FlagSet::Find(const std::string& name) const {
  for (const FlagSpec& spec : specs_) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

absl::Status FlagSet::Parse(int argc, char** argv, int first,
                            std::vector<std::string>* positional) {
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      help_requested_ = true;
      continue;
    }
    if (arg.rfind("--", 0) != 0 || arg == "--") {
      positional->push_back(arg);
      continue;
    }
    std::string name = arg.substr(2);
    std::string value;
    bool has_value = false;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    // Accept --print-config as well as --print_config.
    for (char& c : name) {
      if (c == '-') c = '_';
    }
    const FlagSpec* spec = Find(name);
    if (spec == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag --", name, " (see --help)"));
    }
    if (!has_value) {
      if (spec->is_bool) {
        value = "true";
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("flag --", name, " needs a value"));
      }
    }
    values_[name] = value;
  }
  return absl::OkStatus();
}

std::string FlagSet::Help() const {
  std::string out;
  for (const FlagSpec& spec : specs_) {
    absl::StrAppend(&out, "  --", spec.name,
                    spec.is_bool ? "" : absl::StrCat("=", spec.default_value.empty()
                                                        ? "VALUE"
                                                        : spec.default_value),
                    "\n      ", spec.help);
    if (!spec.env.empty()) absl::StrAppend(&out, " [env ", spec.env, "]");
    out += "\n";
  }
  return out;
}

std::string FlagSet::Get(const std::string& name) const {
  auto it = values_.find(name);
  return it == values_.end() ? "" : it->second;
}

absl::StatusOr<int> FlagSet::GetInt(const std::string& name, int min,
                                    int max) const {
  int value = 0;
  if (!absl::SimpleAtoi(Get(name), &value) || value < min || value > max) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", name, ": must be an integer from ", min, " to ", max, " (got \"",
        Get(name), "\")"));
  }
  return value;
}

absl::StatusOr<double> FlagSet::GetSeconds(const std::string& name) const {
  double value = 0;
  if (!absl::SimpleAtod(Get(name), &value) || value < 0 || value > 86400) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", name, ": must be a number of seconds from 0 to 86400 (got \"",
        Get(name), "\")"));
  }
  return value;
}

absl::StatusOr<bool> FlagSet::GetBool(const std::string& name) const {
  bool value = false;
  if (!absl::SimpleAtob(Get(name), &value)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", name, ": must be true or false (got \"", Get(name), "\")"));
  }
  return value;
}

}  // namespace metad::daemon
