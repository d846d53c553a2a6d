"""Draws a `tessera bench --json` result file: one panel per model/device/dtype, median latency
(log scale) for every batch x sequence case, one line per engine. Usage:
    python bench/plot.py RESULTS.json OUT.png
Called by `tessera bench --plot OUT.png`; needs matplotlib."""
import json
import sys
from collections import defaultdict

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(results_path, png_path):
    with open(results_path) as f:
        document = json.load(f)
    # Latency of whole passes (encoders' forward, causal LMs' prefill); decode steps are another scale.
    rows = [r for r in document["results"] if r.get("median_ms") is not None and r.get("task", "forward") != "decode"]
    if not rows:
        sys.exit("plot.py: no measured results to draw")
    panels = defaultdict(list)
    for r in rows:
        panels[(r["model"], r["device"], r["dtype"])].append(r)
    engines = list(dict.fromkeys(r["engine"] for r in rows))  # tessera first, as the suite orders them
    colors = {e: plt.cm.tab10(i % 10) for i, e in enumerate(engines)}

    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False, sharey=True)
    for ax, (key, panel_rows) in zip(axes[0], sorted(panels.items())):
        shapes = sorted({(r["batch"], r["seq"]) for r in panel_rows})
        position = {shape: i for i, shape in enumerate(shapes)}
        for engine in engines:
            points = sorted((position[(r["batch"], r["seq"])], r["median_ms"]) for r in panel_rows if r["engine"] == engine)
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, marker="o", label=engine, color=colors[engine],
                        linewidth=2.5 if engine == "tessera" else 1.2)
        ax.set_xticks(range(len(shapes)), [f"{b}×{s}" for b, s in shapes], rotation=45)
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_title(" ".join(key), fontsize=10)
        ax.set_xlabel("batch × sequence")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("median latency, ms (log)")
    axes[0][-1].legend(fontsize=8)
    host = document.get("host", {})
    fig.suptitle(f'{host.get("cpu", "")}, {document.get("settings", {}).get("threads", "?")} threads', fontsize=10)
    fig.tight_layout()
    fig.savefig(png_path, dpi=80)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
