#include "nn/linear_input_observer.h"

namespace tessera::nn {

namespace {
thread_local LinearInputObserver* current_observer = nullptr;
}  // namespace

LinearInputObserver* current_linear_input_observer() { return current_observer; }

ScopedLinearInputObserver::ScopedLinearInputObserver(LinearInputObserver& observer)
    : previous_(current_observer) {
  current_observer = &observer;
}

ScopedLinearInputObserver::~ScopedLinearInputObserver() { current_observer = previous_; }

}  // namespace tessera::nn
