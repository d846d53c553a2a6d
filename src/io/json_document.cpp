#include "io/json_document.h"

#include <set>
#include <vector>

#include "tessera/error.h"

namespace tessera::io {

nlohmann::json parse_json(std::string_view text, const std::string& where,
                          const std::string& source) {
  std::vector<std::set<std::string>> keys_per_open_object;
  auto reject_duplicate_keys = [&](int, nlohmann::json::parse_event_t event,
                                   nlohmann::json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    if (event == Event::object_start) {
      keys_per_open_object.emplace_back();
    } else if (event == Event::object_end) {
      keys_per_open_object.pop_back();
    } else if (event == Event::key) {
      const auto& key = parsed.get_ref<const std::string&>();
      if (!keys_per_open_object.back().insert(key).second)
        fail(where, source + ": duplicate key \"" + key + "\" in JSON");
    }
    return true;
  };
  try {
    return nlohmann::json::parse(text.begin(), text.end(), reject_duplicate_keys);
  } catch (const nlohmann::json::parse_error& e) {
    fail(where, source + ": invalid JSON: " + e.what());
  }
}

}  // namespace tessera::io
