#include "runtime/calibration.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "nn/linear_input_observer.h"
#include "runtime/embedder.h"
#include "tessera/ops.h"

namespace tessera {

namespace {

// Adds each observed input's mean x x^T (rows of one text) into the layer's running sum, kept as
// a float32 array and summed by array ops: copying every text's [in, in] product to the host
// would cost more than the forward passes.
class SecondMomentRecorder : public nn::LinearInputObserver {
 public:
  void observe(const std::string& layer, const Array& input) override {
    const int64_t in = input.shape(input.ndim() - 1);
    const int64_t rows = input.size() / in;
    if (rows == 0) return;
    Array x =
        multiply(reshape(astype(input, Dtype::float32), {rows, in}), 1.0 / std::sqrt(double(rows)));
    Array gram = matmul(transpose(x), x);
    auto it = sums_.find(layer);
    if (it == sums_.end()) {
      it = sums_.emplace(layer, gram).first;
    } else {
      TESSERA_CHECK(it->second.shape() == gram.shape(), "calibrate",
                    "layer " + layer + " changed input size");
      it->second = add(it->second, gram);
    }
    eval({it->second});
  }
  LinearInputStatistics averaged(size_t texts) const {
    LinearInputStatistics result;
    for (const auto& [layer, sum] : sums_) {
      std::vector<float> values = sum.to_vector<float>();
      std::vector<double>& mean = result[layer];
      mean.reserve(values.size());
      for (float v : values) mean.push_back(double(v) / double(texts));
    }
    return result;
  }

 private:
  std::map<std::string, Array> sums_;
};

}  // namespace

std::vector<std::string> read_calibration_texts(const std::string& path) {
  TESSERA_CHECK(std::filesystem::is_regular_file(path), "calibrate",
                path + ": no such calibration file");
  std::ifstream in(path);
  TESSERA_CHECK(bool(in), "calibrate", path + ": cannot read the calibration file");
  std::vector<std::string> texts;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") != std::string::npos) texts.push_back(line);
  }
  TESSERA_CHECK(!texts.empty(), "calibrate",
                path + ": the calibration file has no text (one text per line)");
  return texts;
}

LinearInputStatistics collect_linear_input_statistics(const std::string& model,
                                                      const std::vector<std::string>& texts,
                                                      const LoadOptions& options) {
  TESSERA_CHECK(!texts.empty(), "calibrate", "no calibration texts");
  LoadOptions float_options = options;
  float_options.quantize = std::nullopt;
  float_options.calibration = nullptr;
  Embedder embedder(model, float_options);
  TESSERA_CHECK(embedder.has_tokenizer(), "calibrate",
                model + ": the model directory has no tokenizer.json");
  SecondMomentRecorder recorder;
  {
    nn::ScopedLinearInputObserver scope(recorder);
    // One text per forward, so every observation is exactly one text's tokens.
    for (const std::string& text : texts) embedder.embed_texts({text});
  }
  return recorder.averaged(texts.size());
}

}  // namespace tessera
