#!/usr/bin/env python3
"""Pivots gemm_compare rows (TSV files given as arguments) into markdown tables: one row per shape,
one column per library kernel, each cell 'GFLOP/s at 1 thread / at 2 threads'. A relative error
above the input type's tolerance is flagged in the cell, so a broken path cannot pass as fast."""
import collections
import csv
import sys

TOLERANCE = {"f32": 1e-5, "bf16": 1e-3, "u8s8s32": 0.0}
TABLES = {
    "float32": ["f32"],
    "bfloat16 inputs, float32 output; int8 (u8 x s8 -> s32, GOP/s)": ["bf16", "u8s8s32"],
}

rows = []
for path in sys.argv[1:]:
    with open(path) as f:
        lines = [line for line in f if not line.startswith("#")]
    rows.extend(csv.DictReader(lines, delimiter="\t"))

for title, inputs in TABLES.items():
    columns = []  # (library, kernel) in first-seen order
    cells = collections.defaultdict(dict)
    shapes = []
    for r in rows:
        if r["input"] not in inputs:
            continue
        column = f'{r["library"]} {r["kernel"]}'
        shape = (r["role"], int(r["m"]), r["n"], r["k"])
        if column not in columns:
            columns.append(column)
        if shape not in shapes:
            shapes.append(shape)
        error = float(r["rel_err"])
        flag = "" if error != error or error <= TOLERANCE[r["input"]] else f" (err {error:.0e}!)"
        cells[(shape, column)][r["threads"]] = f'{float(r["gflops"]):.0f}{flag}'
    if not columns:
        continue
    print(f"### {title}\n")
    print("| shape | M | " + " | ".join(columns) + " |")
    print("|---|---:|" + "---:|" * len(columns))
    for shape in sorted(shapes, key=lambda s: (s[0].startswith(("scores", "context")), s[1], s[0])):
        values = []
        for column in columns:
            by_threads = cells.get((shape, column), {})
            values.append(" / ".join(by_threads.get(t, "-") for t in ("1", "2")))
        print(f"| {shape[0]} | {shape[1]} | " + " | ".join(values) + " |")
    print()
