#include "clients/cpp/args.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace metad::metactl {
namespace {

const Flag* FindFlag(const std::vector<Flag>& flags, const std::string& name) {
  for (const Flag& f : flags) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

}  // namespace

bool ParsedArgs::Has(const std::string& flag) const {
  return flags_.count(flag) > 0;
}

std::string ParsedArgs::Get(const std::string& flag,
                            const std::string& fallback) const {
  auto it = flags_.find(flag);
  return it == flags_.end() ? fallback : it->second.back();
}

std::vector<std::string> ParsedArgs::GetAll(const std::string& flag) const {
  auto it = flags_.find(flag);
  return it == flags_.end() ? std::vector<std::string>{} : it->second;
}

int64_t ParsedArgs::GetInt(const std::string& flag, int64_t fallback,
                           int64_t min, int64_t max) const {
  if (!Has(flag)) return fallback;
  return ParseInt(absl::StrCat("--", flag), Get(flag), min, max);
}

int64_t ParseInt(const std::string& what, const std::string& text, int64_t min,
                 int64_t max) {
  int64_t value = 0;
  if (!absl::SimpleAtoi(text, &value)) {
    throw UsageError(
        absl::StrCat(what, ": expected an integer, got '", text, "'"));
  }
  if (value < min || value > max) {
    throw UsageError(absl::StrCat(what, ": ", value, " is out of range [", min,
                                  ", ", max, "]"));
  }
  return value;
}

ParsedArgs ParseArgs(const std::vector<std::string>& args,
                     const std::vector<Flag>& flags) {
  ParsedArgs parsed;
  bool flags_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (flags_done || arg.size() < 2 || arg.compare(0, 2, "--") != 0) {
      parsed.AddPositional(arg);
      continue;
    }
    if (arg == "--") {
      flags_done = true;
      continue;
    }
    std::string name = arg.substr(2);
    std::string value;
    bool inline_value = false;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      inline_value = true;
    }
    const Flag* flag = FindFlag(flags, name);
    if (flag == nullptr) {
      throw UsageError(absl::StrCat("unknown flag --", name));
    }
    if (flag->value_name.empty()) {
      if (inline_value) {
        throw UsageError(absl::StrCat("--", name, " takes no value"));
      }
      value = "true";
    } else if (!inline_value) {
      if (i + 1 >= args.size()) {
        throw UsageError(absl::StrCat("--", name, " needs a value (",
                                      flag->value_name, ")"));
      }
      value = args[++i];
    }
    if (!flag->repeated && parsed.Has(name) && parsed.Get(name) != value) {
      throw UsageError(absl::StrCat("--", name, " given twice"));
    }
    parsed.AddFlag(name, std::move(value));
  }
  return parsed;
}

}  // namespace metad::metactl
