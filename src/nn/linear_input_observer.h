#pragma once
// A hook on every Linear layer's input, for calibration: while a ScopedLinearInputObserver is
// alive on a thread, each nn::Linear applied on that thread first hands its name (the checkpoint
// prefix it was loaded from) and its input to the observer. Without one, Linear pays one
// thread-local pointer test.
#include <string>

#include "tessera/array.h"

namespace tessera::nn {

class LinearInputObserver {
 public:
  virtual ~LinearInputObserver() = default;
  // `input` is [..., in], possibly not evaluated yet.
  virtual void observe(const std::string& layer, const Array& input) = 0;
};

LinearInputObserver* current_linear_input_observer();

class ScopedLinearInputObserver {
 public:
  explicit ScopedLinearInputObserver(LinearInputObserver& observer);
  ~ScopedLinearInputObserver();
  ScopedLinearInputObserver(const ScopedLinearInputObserver&) = delete;
  ScopedLinearInputObserver& operator=(const ScopedLinearInputObserver&) = delete;

 private:
  LinearInputObserver* previous_;
};

}  // namespace tessera::nn
