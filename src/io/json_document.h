#pragma once
// Parsing the JSON of checkpoint headers and indexes, which come from untrusted files.
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace tessera::io {

// Parses `text`, refusing invalid JSON and duplicate keys in any object (a parser would silently
// keep one of the two, hiding a tensor or a shard). Errors read "[where] source: ...".
nlohmann::json parse_json(std::string_view text, const std::string& where,
                          const std::string& source);

}  // namespace tessera::io
