#include "daemon/app/flags.h"

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "store/database.h"

namespace metad::daemon {

FlagSet::FlagSet(std::vector<FlagSpec> specs) : specs_(std::move(specs)) {
  for (const FlagSpec& spec : specs_) {
    const char* env =
        spec.env.empty() ? nullptr : std::getenv(spec.env.c_str());
    values_[spec.name] = env != nullptr ? env : spec.default_value;
    sources_[spec.name] =
        env != nullptr ? absl::StrCat("env ", spec.env) : "default";
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
    sources_[name] = "flag";
  }
  return absl::OkStatus();
}

absl::Status FlagSet::LoadConfigFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("--config: cannot read ", path));
  }
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--config: cannot read ", path));
  }
  return ParseConfigText(text.str(), path);
}

absl::Status FlagSet::ParseConfigText(const std::string& text,
                                      const std::string& origin) {
  std::set<std::string> seen;
  std::istringstream lines(text);
  std::string raw;
  for (int number = 1; std::getline(lines, raw); ++number) {
    const std::string where = absl::StrCat(origin, ":", number);
    auto bad = [&where](const std::string& what) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": ", what));
    };
    std::string line(absl::StripAsciiWhitespace(raw));
    if (line.empty() || line[0] == '#') continue;
    size_t eq = line.find('=');
    if (eq == std::string::npos) {
      return bad("expected `key = value`");
    }
    std::string key(absl::StripAsciiWhitespace(line.substr(0, eq)));
    std::string rest(absl::StripAsciiWhitespace(line.substr(eq + 1)));
    for (char& c : key) {
      if (c == '-') c = '_';
    }
    const FlagSpec* spec = Find(key);
    if (key.empty()) return bad("expected `key = value`");
    if (spec == nullptr) return bad(absl::StrCat("unknown key \"", key, "\""));
    if (spec->command_line_only) {
      return bad(absl::StrCat("key \"", key,
                              "\" is allowed on the command line only"));
    }
    if (!seen.insert(key).second) {
      return bad(absl::StrCat("key \"", key, "\" repeated"));
    }
    std::string value;
    if (!rest.empty() && rest[0] == '"') {
      size_t close = rest.find('"', 1);
      if (close == std::string::npos) {
        return bad(absl::StrCat("key \"", key, "\": unterminated quote"));
      }
      value = rest.substr(1, close - 1);
      std::string after(absl::StripAsciiWhitespace(rest.substr(close + 1)));
      if (!after.empty() && after[0] != '#') {
        return bad(
            absl::StrCat("key \"", key, "\": text after the closing quote"));
      }
    } else {
      // A comment starts at a `#` after whitespace; URLs keep theirs.
      value = rest;
      for (size_t i = 1; i < rest.size(); ++i) {
        if (rest[i] == '#' && absl::ascii_isspace(rest[i - 1])) {
          value = std::string(absl::StripAsciiWhitespace(rest.substr(0, i)));
          break;
        }
      }
    }
    // The command line and the environment win over the file.
    if (sources_[key] == "default") {
      values_[key] = value;
      sources_[key] = absl::StrCat("file ", where);
    }
  }
  return absl::OkStatus();
}

std::string FlagSet::PrintConfig() const {
  std::string out;
  for (const FlagSpec& spec : specs_) {
    if (spec.command_line_only) continue;
    std::string value = Get(spec.name);
    if (spec.mask == Mask::kUrl) {
      value = store::RedactDatabaseUrl(value);
    } else if (spec.mask == Mask::kSecret && !value.empty()) {
      value = "****";
    }
    bool quote = value.empty() || value.find('#') != std::string::npos ||
                 value != absl::StripAsciiWhitespace(value);
    std::string shown = quote ? absl::StrCat("\"", value, "\"") : value;
    absl::StrAppend(&out, absl::StrFormat("%-40s # %s\n",
                                          absl::StrCat(spec.name, " = ", shown),
                                          Source(spec.name)));
  }
  return out;
}
std::string FlagSet::Help() const {
  std::string out;
  for (const FlagSpec& spec : specs_) {
    absl::StrAppend(&out, "  --", spec.name,
                    spec.is_bool ? ""
                                 : absl::StrCat("=", spec.default_value.empty()
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

std::string FlagSet::Source(const std::string& name) const {
  auto it = sources_.find(name);
  return it == sources_.end() ? "" : it->second;
}

std::string FlagSet::Describe(const std::string& name) const {
  std::string source = Source(name);
  if (source == "flag" || source.empty()) return absl::StrCat("--", name);
  return absl::StrCat("--", name, " (", source, ")");
}

absl::StatusOr<int> FlagSet::GetInt(const std::string& name, int min,
                                    int max) const {
  int value = 0;
  if (!absl::SimpleAtoi(Get(name), &value) || value < min || value > max) {
    return absl::InvalidArgumentError(
        absl::StrCat(Describe(name), ": must be an integer from ", min, " to ",
                     max, " (got \"", Get(name), "\")"));
  }
  return value;
}

absl::StatusOr<double> FlagSet::GetSeconds(const std::string& name) const {
  double value = 0;
  if (!absl::SimpleAtod(Get(name), &value) || value < 0 || value > 86400) {
    return absl::InvalidArgumentError(absl::StrCat(
        Describe(name), ": must be a number of seconds from 0 to 86400 (got \"",
        Get(name), "\")"));
  }
  return value;
}

absl::StatusOr<bool> FlagSet::GetBool(const std::string& name) const {
  bool value = false;
  if (!absl::SimpleAtob(Get(name), &value)) {
    return absl::InvalidArgumentError(absl::StrCat(
        Describe(name), ": must be true or false (got \"", Get(name), "\")"));
  }
  return value;
}

}  // namespace metad::daemon
