#include "metad/client/selector.h"

namespace metad::client {
namespace {

std::string Escape(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    // Spaces around a term are ignored by the daemon unless escaped.
    const bool edge_space = c == ' ' && (i == 0 || i + 1 == text.size());
    if (c == ',' || c == '=' || c == '\\' || edge_space) out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

std::string Selector(const std::vector<SelectorTerm>& terms) {
  std::string out;
  for (const SelectorTerm& term : terms) {
    if (!out.empty()) out += ',';
    out += Escape(term.key);
    if (term.value) out += "=" + Escape(*term.value);
  }
  return out;
}

SelectorTerm ParseSelectorTerm(const std::string& text) {
  const size_t eq = text.find('=');
  if (eq == std::string::npos) return {text, std::nullopt};
  return {text.substr(0, eq), text.substr(eq + 1)};
}

}  // namespace metad::client
