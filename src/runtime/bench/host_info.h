#pragma once
// What the results were measured on, written beside them: CPU model, cores, load average
// (a busy machine makes every number slower), the command line and the time.
#include <nlohmann/json_fwd.hpp>
#include <string>

namespace tessera::bench {

nlohmann::json describe_host(const std::string& command_line);
double load_average_1min();

}  // namespace tessera::bench
