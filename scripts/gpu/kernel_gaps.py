#!/usr/bin/env python3
"""Per-kernel time in the stream from `nsys stats --report cuda_gpu_trace --format csv`: the last
decode steps' kernels (a step = everything between two lm_head-sized gaps is not knowable, so the
trace's last quarter is used), grouped by name: mean duration, mean gap before the kernel (the
idle time a launch boundary costs), and the share of the step.

    python3 scripts/gpu/kernel_gaps.py TRACE.csv LAYERS
"""
import collections
import csv
import sys


def main():
    path, layers = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 4
    rows = list(csv.DictReader(open(path)))
    if not rows:
        print(f"{path}: empty trace")
        return
    start_key = next(k for k in rows[0] if k.startswith("Start"))
    dur_key = next(k for k in rows[0] if k.startswith("Duration"))
    name_key = "Name"
    kernels = [r for r in rows if r.get(name_key) and "memcpy" not in r[name_key].lower() and "memset" not in r[name_key].lower()]
    kernels.sort(key=lambda r: float(r[start_key]))
    tail = kernels[len(kernels) * 3 // 4:]
    stats = collections.defaultdict(lambda: [0, 0.0, 0.0])
    previous_end = None
    busy = idle = 0.0
    for r in tail:
        start, duration = float(r[start_key]), float(r[dur_key])
        gap = 0.0 if previous_end is None else max(0.0, start - previous_end)
        if gap > 50_000:  # between timed steps (host sync): not a launch boundary
            gap = 0.0
        name = r[name_key].split("(")[0].split("<")[0][-60:]
        s = stats[name]
        s[0] += 1
        s[1] += duration
        s[2] += gap
        busy += duration
        idle += gap
        previous_end = start + duration
    total = busy + idle
    print(f"{path}: {len(tail)} kernels, busy {busy / 1e3:.1f} us, idle between kernels {idle / 1e3:.1f} us "
          f"({100 * idle / total:.1f}%)")
    print(f"{'kernel':62s} {'calls':>6s} {'us/call':>8s} {'gap us':>7s} {'share':>6s}")
    for name, (count, dur, gap) in sorted(stats.items(), key=lambda kv: -(kv[1][1] + kv[1][2])):
        print(f"{name:62s} {count:6d} {dur / count / 1e3:8.2f} {gap / count / 1e3:7.2f} {100 * (dur + gap) / total:5.1f}%")


if __name__ == "__main__":
    main()
