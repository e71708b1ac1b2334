#include "daemon/rpc/selector.h"

#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/error_details.h"
#include "daemon/rpc/labels.h"
#include "daemon/rpc/limits.h"
#include "daemon/rpc/validation.h"

namespace metad::daemon {
namespace {

// A character of a term and whether '\' made it literal.
struct Char {
  char c;
  bool escaped;
};

// How a term is named in a refusal: its position, and its text when that is
// short printable ASCII (the caller's text may be anything).
std::string TermName(int position, absl::string_view raw) {
  bool printable = raw.size() <= 64;
  for (char c : raw) printable = printable && c >= ' ' && c < 0x7f;
  return printable ? absl::StrCat("term ", position, " \"", raw, "\"")
                   : absl::StrCat("term ", position);
}

absl::Status TermError(absl::string_view field, int position,
                       absl::string_view raw, absl::string_view rule) {
  return metad::InvalidFieldError(
      field, absl::StrCat(TermName(position, raw), ": ", rule));
}

// The text of chars[begin, end).
std::string Text(const std::vector<Char>& chars, size_t begin, size_t end) {
  std::string out;
  for (size_t i = begin; i < end; ++i) out += chars[i].c;
  return out;
}

// Parses one term (its characters, escapes resolved) into *term.
absl::Status ParseTerm(absl::string_view field, int position,
                       absl::string_view raw, std::vector<Char> chars,
                       SelectorKind kind, store::MapTerm* term) {
  // Spaces around the term are ignored (not escaped ones).
  size_t begin = 0, end = chars.size();
  while (begin < end && chars[begin].c == ' ' && !chars[begin].escaped) ++begin;
  while (end > begin && chars[end - 1].c == ' ' && !chars[end - 1].escaped) {
    --end;
  }
  if (begin == end) return TermError(field, position, raw, "is empty");
  size_t eq = end;
  for (size_t i = begin; i < end; ++i) {
    if (chars[i].c == '=' && !chars[i].escaped) {
      eq = i;
      break;
    }
  }
  term->key = Text(chars, begin, eq);
  if (eq < end) {
    term->value = Text(chars, eq + 1, end);
  } else {
    term->value.reset();
  }
  // The checks are run with an empty field name, so their message is
  // ": <rule>"; the refusal names the selector's field and the term.
  auto refuse = [&](absl::string_view part, const absl::Status& status) {
    absl::string_view rule = status.message();
    if (rule.substr(0, 2) == ": ") rule.remove_prefix(2);
    return TermError(field, position, raw, absl::StrCat(part, rule));
  };
  absl::Status key, value;
  if (kind == SelectorKind::kLabels) {
    key = CheckLabelKey("", term->key);  // its rule starts with "key"
    if (!key.ok()) return refuse("", key);
    if (term->value) {
      value = CheckLabel("", *term->value, 0, kMaxLabelValueBytes);
    }
  } else {
    key = CheckText("", term->key, 1, kMaxAttributeKeyBytes);
    if (!key.ok()) return refuse("key ", key);
    if (term->value) {
      value = CheckText("", *term->value, 0, kMaxAttributeValueBytes);
    }
  }
  if (!value.ok()) return refuse("value ", value);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<store::MapTerm>> ParseSelector(
    absl::string_view field, absl::string_view text, SelectorKind kind) {
  std::vector<store::MapTerm> terms;
  if (text.empty()) return terms;
  if (text.size() > kMaxSelectorBytes) {
    return metad::InvalidFieldError(
        field, absl::StrCat("must be at most ", kMaxSelectorBytes,
                            " bytes (got ", text.size(), ")"));
  }
  absl::flat_hash_set<std::string> keys;
  std::vector<Char> chars;
  size_t raw_begin = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i < text.size() && text[i] == '\\') {
      if (i + 1 == text.size()) {
        return metad::InvalidFieldError(field,
                                        "ends in a '\\' that escapes nothing");
      }
      chars.push_back({text[++i], true});
      continue;
    }
    if (i < text.size() && text[i] != ',') {
      chars.push_back({text[i], false});
      continue;
    }
    const int position = static_cast<int>(terms.size()) + 1;
    const absl::string_view raw = text.substr(raw_begin, i - raw_begin);
    if (position > kMaxSelectorTerms) {
      return metad::InvalidFieldError(
          field, absl::StrCat("at most ", kMaxSelectorTerms, " terms"));
    }
    store::MapTerm term;
    absl::Status parsed =
        ParseTerm(field, position, raw, std::move(chars), kind, &term);
    if (!parsed.ok()) return parsed;
    if (!keys.insert(term.key).second) {
      return TermError(field, position, raw,
                       "names a key an earlier term already names");
    }
    terms.push_back(std::move(term));
    chars.clear();
    raw_begin = i + 1;
  }
  return terms;
}

}  // namespace metad::daemon
