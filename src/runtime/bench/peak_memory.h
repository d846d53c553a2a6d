#pragma once
// Peak resident memory of this process, resettable so each case reports its own peak.
namespace tessera::bench {

// Resets the kernel's high-water mark (VmHWM) to the current RSS: Linux /proc/self/clear_refs.
void reset_peak_rss();
// VmHWM in MB (10^6 bytes) since the last reset or process start.
double peak_rss_mb();

}  // namespace tessera::bench
