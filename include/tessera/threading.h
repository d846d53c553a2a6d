#pragma once
// Process-level OpenMP settings for programs built on tessera.

namespace tessera {

// OpenMP threads that spin while waiting for work (libgomp's default) cost more than they save on
// the small shared machines tessera targets: on a 2-core KVM guest bert-base 1x128 float32 took
// 358 ms spinning and 152 ms with OMP_WAIT_POLICY=passive (docs/benchmarks.md, "CPU speed").
// libgomp reads the policy once, when it is loaded, so this re-executes the program (argv as
// given to main) with the passive policy unless the user chose one; call it first thing in main.
// Returns only when no re-execution happened (policy already set, or exec failed).
void prefer_passive_openmp_waits(char** argv);

}  // namespace tessera
