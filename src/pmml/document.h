#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "pugixml.hpp"

namespace evs::pmml {

// Limits applied before and while parsing. A document that breaks one is
// rejected with a message that names the limit; nothing is expanded first.
struct LoadOptions {
  size_t max_bytes = size_t{512} << 20;  // 512 MiB of XML text
  size_t max_elements = 20'000'000;
  int max_depth = 2'000;
};

// A parsed PMML document: the pugixml DOM plus its PMML version. Parsing
// rejects any DOCTYPE (so no external entities and no entity expansion),
// checks the limits in LoadOptions, and checks that the root is <PMML>.
// Depth is checked by a non-recursive pre-scan so a 100,000-deep file is
// refused before the DOM is built.
class Document {
 public:
  static absl::StatusOr<std::unique_ptr<Document>> Parse(std::string_view xml,
                                                         const LoadOptions& opts);
  static absl::StatusOr<std::unique_ptr<Document>> ParseFile(const std::string& path,
                                                             const LoadOptions& opts);

  pugi::xml_node root() const { return doc_.document_element(); }
  const std::string& version() const { return version_; }  // "4.4", "3.2", ...

 private:
  pugi::xml_document doc_;
  std::string version_;
};

// Element path for error messages: "/PMML/MiningModel/Segmentation/Segment[2]/TreeModel/Node[1]"
// (1-based index among same-named siblings, only where there are several).
std::string ElementPath(pugi::xml_node node);

// absl::InvalidArgumentError("<path>: <message>").
absl::Status ElementError(pugi::xml_node node, std::string_view message);

// Local name of an element without any namespace prefix ("pmml:Node" -> "Node").
std::string_view LocalName(pugi::xml_node node);

// First child element with the given local name (ignores prefixes and extensions).
pugi::xml_node Child(pugi::xml_node parent, std::string_view local_name);

}  // namespace evs::pmml
