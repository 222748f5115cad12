#include "pmml/document.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/fmt_compat.h"

namespace evs::pmml {
namespace {
std::string Msg(const absl::Status& s) { return std::string(s.message()); }
}  // namespace
namespace {

// Line (1-based) of byte `offset` in `text`.
size_t LineOf(std::string_view text, size_t offset) {
  size_t line = 1;
  for (size_t i = 0; i < offset && i < text.size(); ++i)
    if (text[i] == '\n') ++line;
  return line;
}

absl::Status ScanError(std::string_view xml, size_t offset, std::string_view msg) {
  return absl::InvalidArgumentError(
      absl::StrCat("XML error at line ", LineOf(xml, offset), " (offset ", offset, "): ", AV(msg)));
}

bool StartsWith(std::string_view s, size_t pos, std::string_view prefix) {
  return s.size() - pos >= prefix.size() && s.compare(pos, prefix.size(), prefix) == 0;
}

bool StartsWithIgnoreCase(std::string_view s, size_t pos, std::string_view prefix) {
  if (s.size() - pos < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    char c = s[pos + i];
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (c != prefix[i]) return false;
  }
  return true;
}

// A linear, non-recursive pass over the markup before pugixml builds the DOM:
// refuses DOCTYPE (no entities can be declared, so none are expanded), counts
// elements and nesting depth against the limits. Memory is O(1).
absl::Status PreScan(std::string_view xml, const LoadOptions& opts) {
  size_t elements = 0;
  long depth = 0;
  size_t i = 0;
  const size_t n = xml.size();
  while (i < n) {
    const void* lt = std::memchr(xml.data() + i, '<', n - i);
    if (lt == nullptr) break;
    i = static_cast<size_t>(static_cast<const char*>(lt) - xml.data());
    const size_t start = i;
    if (StartsWith(xml, i, "<!--")) {
      size_t end = xml.find("-->", i + 4);
      if (end == std::string_view::npos) return ScanError(xml, start, "unterminated comment");
      i = end + 3;
      continue;
    }
    if (StartsWith(xml, i, "<![CDATA[")) {
      size_t end = xml.find("]]>", i + 9);
      if (end == std::string_view::npos) return ScanError(xml, start, "unterminated CDATA section");
      i = end + 3;
      continue;
    }
    if (StartsWithIgnoreCase(xml, i, "<!DOCTYPE")) {
      return ScanError(
          xml, start,
          "DOCTYPE declarations are not allowed in PMML documents (no DTDs or entities)");
    }
    if (StartsWith(xml, i, "<!ENTITY") || StartsWith(xml, i, "<!")) {
      return ScanError(xml, start, "markup declarations are not allowed in PMML documents");
    }
    if (StartsWith(xml, i, "<?")) {
      size_t end = xml.find("?>", i + 2);
      if (end == std::string_view::npos)
        return ScanError(xml, start, "unterminated processing instruction");
      i = end + 2;
      continue;
    }
    const bool closing = StartsWith(xml, i, "</");
    // Find the end of the tag, skipping quoted attribute values.
    size_t j = i + 1;
    char quote = 0;
    for (; j < n; ++j) {
      char c = xml[j];
      if (quote) {
        if (c == quote) quote = 0;
      } else if (c == '"' || c == '\'') {
        quote = c;
      } else if (c == '>') {
        break;
      }
    }
    if (j >= n) return ScanError(xml, start, "unterminated tag");
    if (closing) {
      --depth;
    } else if (xml[j - 1] != '/') {
      ++depth;
      ++elements;
      if (depth > opts.max_depth) {
        return ScanError(xml, start,
                         absl::StrCat("element nesting deeper than the limit of ", opts.max_depth));
      }
    } else {
      ++elements;
    }
    if (elements > opts.max_elements) {
      return ScanError(xml, start,
                       absl::StrCat("more elements than the limit of ", opts.max_elements));
    }
    i = j + 1;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Document>> Document::Parse(std::string_view xml,
                                                          const LoadOptions& opts) {
  if (xml.size() > opts.max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("PMML document of ", xml.size(),
                                                   " bytes exceeds the size limit of ",
                                                   opts.max_bytes, " bytes"));
  }
  // UTF-8 only (with or without a BOM): the pre-scan works on ASCII markup,
  // so UTF-16/32 text could hide a DOCTYPE from it.
  if (xml.size() >= 2 &&
      ((static_cast<unsigned char>(xml[0]) == 0xFE && static_cast<unsigned char>(xml[1]) == 0xFF) ||
       (static_cast<unsigned char>(xml[0]) == 0xFF && static_cast<unsigned char>(xml[1]) == 0xFE) ||
       xml[0] == '\0' || xml[1] == '\0')) {
    return absl::InvalidArgumentError(
        "PMML document is not UTF-8 (UTF-16/32 text is not supported)");
  }
  if (auto st = PreScan(xml, opts); !st.ok()) return st;

  auto doc = std::unique_ptr<Document>(new Document());
  // parse_default without DOCTYPE handling; pugixml never expands custom entities.
  const unsigned flags = pugi::parse_default & ~pugi::parse_doctype;
  pugi::xml_parse_result res =
      doc->doc_.load_buffer(xml.data(), xml.size(), flags, pugi::encoding_utf8);
  if (!res) {
    size_t off = static_cast<size_t>(res.offset);
    return ScanError(xml, off, res.description());
  }
  pugi::xml_node root = doc->doc_.document_element();
  if (!root) return absl::InvalidArgumentError("XML document has no root element");
  if (LocalName(root) != "PMML") {
    return absl::InvalidArgumentError(
        absl::StrCat("root element is <", root.name(), ">, expected <PMML>: not a PMML document"));
  }
  pugi::xml_attribute version = root.attribute("version");
  if (!version) return ElementError(root, "missing version attribute");
  doc->version_ = version.value();
  if (doc->version_.empty() || (doc->version_[0] != '3' && doc->version_[0] != '4')) {
    return ElementError(
        root, absl::StrCat("unsupported PMML version '", doc->version_, "' (3.x and 4.x are)"));
  }
  return doc;
}

absl::StatusOr<std::unique_ptr<Document>> Document::ParseFile(const std::string& path,
                                                              const LoadOptions& opts) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("cannot open PMML file ", path, ": ", std::strerror(errno)));
  }
  struct stat st;
  if (fstat(fileno(f), &st) != 0) {
    int err = errno;
    std::fclose(f);
    return absl::InternalError(absl::StrCat("cannot stat ", path, ": ", std::strerror(err)));
  }
  if (!S_ISREG(st.st_mode)) {
    std::fclose(f);
    return absl::InvalidArgumentError(absl::StrCat(path, " is not a regular file"));
  }
  // Checked before reading anything: a huge file is refused at once.
  if (static_cast<uint64_t>(st.st_size) > opts.max_bytes) {
    std::fclose(f);
    return absl::InvalidArgumentError(absl::StrCat("PMML file ", path, " has ", st.st_size,
                                                   " bytes, over the size limit of ",
                                                   opts.max_bytes, " bytes"));
  }
  std::string text;
  text.resize(static_cast<size_t>(st.st_size));
  size_t got = text.empty() ? 0 : std::fread(text.data(), 1, text.size(), f);
  std::fclose(f);
  if (got != text.size()) return absl::InternalError(absl::StrCat("short read on ", path));
  auto doc = Parse(text, opts);
  if (!doc.ok()) {
    return absl::Status(
        doc.status().code(),
        absl::StrCat(path, ": ",
                     AV(std::string_view(Msg(doc.status()).data(), Msg(doc.status()).size()))));
  }
  return doc;
}

std::string_view LocalName(pugi::xml_node node) {
  std::string_view name = node.name();
  size_t colon = name.rfind(':');
  return colon == std::string_view::npos ? name : name.substr(colon + 1);
}

pugi::xml_node Child(pugi::xml_node parent, std::string_view local_name) {
  for (pugi::xml_node c = parent.first_child(); c; c = c.next_sibling()) {
    if (c.type() == pugi::node_element && LocalName(c) == local_name) return c;
  }
  return pugi::xml_node();
}

std::string ElementPath(pugi::xml_node node) {
  std::vector<std::string> parts;
  for (pugi::xml_node n = node; n && n.type() == pugi::node_element; n = n.parent()) {
    std::string_view name = LocalName(n);
    std::string part(name);
    int index = 0, count = 0;
    for (pugi::xml_node s = n.parent().first_child(); s; s = s.next_sibling()) {
      if (s.type() != pugi::node_element || LocalName(s) != name) continue;
      ++count;
      if (s == n) index = count;
    }
    if (count > 1) absl::StrAppend(&part, "[", index, "]");
    parts.push_back(std::move(part));
  }
  std::string path;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) absl::StrAppend(&path, "/", *it);
  return path.empty() ? "/" : path;
}

absl::Status ElementError(pugi::xml_node node, std::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(ElementPath(node), ": ", AV(message)));
}

}  // namespace evs::pmml
