"""The observability scenario's picture: delivery concurrency over time, variants side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def concurrency_png(doc: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # no display here, and none wanted in CI
    import matplotlib.pyplot as plt

    variants = doc["variants"]
    fig, axes = plt.subplots(
        1, len(variants), figsize=(6 * len(variants), 4), sharey=True, squeeze=False
    )
    for ax, (name, v) in zip(axes[0], variants.items(), strict=True):
        points = v["concurrency"]
        if points:
            xs, ys = zip(*points, strict=True)
            ax.step(xs, ys, where="post", color="#1f77b4", label="delivery concurrency (max/s)")
        ax.set_title(
            f"{name}: {v['deliveries']} delivered, {v['throttled_429']} x 429, "
            f"{v['dlq_arrivals']} DLQ, {v['lost']} lost",
            fontsize=9,
        )
        ax.set_xlabel(f"seconds (x{doc['compress']:g} = seed seconds)")
        ax.set_ylabel("concurrent executions")
        rates = ax.twinx()
        width = max(1.0, v["seconds"] / 60)
        bins = [i * width for i in range(int(v["seconds"] / width) + 2)]
        if v["sent_at"]:
            rates.hist(
                v["sent_at"],
                bins=bins,
                histtype="step",
                color="#2ca02c",
                weights=[1 / width] * len(v["sent_at"]),
                label="requests/s",
            )
        if v["calls_429"]:
            rates.hist(
                v["calls_429"],
                bins=bins,
                histtype="step",
                color="#d62728",
                weights=[1 / width] * len(v["calls_429"]),
                label="429/s",
            )
        rates.set_ylabel("per second")
        handles = ax.get_legend_handles_labels()[0] + rates.get_legend_handles_labels()[0]
        labels = ax.get_legend_handles_labels()[1] + rates.get_legend_handles_labels()[1]
        ax.legend(handles, labels, loc="upper left", fontsize=8)
    fig.suptitle(
        f"Observability demo replayed: time /{doc['compress']:g}, "
        f"rates /{doc.get('rate_scale', 1):g}"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
