#pragma once
// How OpenMP's worker threads wait between parallel regions, chosen once per process.

namespace tessera {

// libgomp's waiting workers either spin or sleep, and a forward pass is many short parallel
// regions, so the choice sets the speed (docs/benchmarks.md, "CPU speed"):
// - on small shared machines (at most 4 cores) spinning steals the cores others need: a 2-core KVM
//   guest ran bert-base 1x128 float32 in 358 ms spinning and 152 ms with OMP_WAIT_POLICY=passive;
// - on larger ones sleeping costs a wake-up per region: the lent 16-core host ran it in 49-112 ms
//   passive, 32 ms always spinning and 29-34 ms spinning a bounded while (GOMP_SPINCOUNT=1000000,
//   ~tens of ms before sleeping, so an idle tessera does not slow a peer benchmarked after it).
// libgomp reads these once, when it is loaded, so this re-executes the program (argv as given to
// main) with passive waits or the bounded spin unless the user set OMP_WAIT_POLICY or
// GOMP_SPINCOUNT; call it first thing in main. Returns only when no re-execution happened.
void choose_openmp_waits(char** argv);

}  // namespace tessera
