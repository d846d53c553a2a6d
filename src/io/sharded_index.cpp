#include "io/sharded_index.h"

#include <filesystem>
#include <map>
#include <set>

#include "io/json_document.h"
#include "tessera/checkpoint.h"
#include "tessera/error.h"

namespace tessera::io {

namespace {

// tensor name -> shard file name, validated.
std::map<std::string, std::string> read_weight_map(const std::string& index_path,
                                                   const std::string& where) {
  nlohmann::json index = parse_json(read_text_file(index_path), where, index_path);
  TESSERA_CHECK(
      index.is_object() && index.contains("weight_map") && index["weight_map"].is_object(), where,
      index_path + ": expected an object with a \"weight_map\" object");
  std::map<std::string, std::string> weight_map;
  for (const auto& [tensor, shard] : index["weight_map"].items()) {
    TESSERA_CHECK(shard.is_string(), where,
                  index_path + ": weight_map[\"" + tensor + "\"] is a " + shard.type_name() +
                      ", expected a shard file name");
    const auto& name = shard.get_ref<const std::string&>();
    // Shards live next to the index; a path elsewhere is a broken or hostile index.
    TESSERA_CHECK(
        !name.empty() && name.find('/') == std::string::npos && name != "." && name != "..", where,
        index_path + ": shard \"" + name + "\" of tensor '" + tensor +
            "' is not a file name next to the index");
    weight_map.emplace(tensor, name);
  }
  TESSERA_CHECK(!weight_map.empty(), where, index_path + ": weight_map is empty");
  return weight_map;
}

}  // namespace

TensorMap load_sharded_checkpoint(const std::string& index_path, const std::string& where,
                                  const LoadShard& load_shard) {
  std::map<std::string, std::string> weight_map = read_weight_map(index_path, where);
  std::set<std::string> shard_names;
  for (const auto& [tensor, shard] : weight_map) shard_names.insert(shard);

  const std::filesystem::path directory = std::filesystem::path(index_path).parent_path();
  std::map<std::string, std::string> shard_of_tensor;
  TensorMap tensors;
  for (const std::string& shard : shard_names) {
    for (auto& [name, array] : load_shard((directory / shard).string())) {
      auto [previous, inserted] = shard_of_tensor.emplace(name, shard);
      TESSERA_CHECK(
          inserted, where,
          index_path + ": tensor '" + name + "' is in both " + previous->second + " and " + shard);
      tensors.emplace(name, std::move(array));
    }
  }
  for (const auto& [tensor, shard] : weight_map) {
    auto found = shard_of_tensor.find(tensor);
    TESSERA_CHECK(found != shard_of_tensor.end() && found->second == shard, where,
                  index_path + ": weight_map puts tensor '" + tensor + "' in " + shard +
                      ", but that shard does not hold it");
  }
  return tensors;
}

}  // namespace tessera::io
