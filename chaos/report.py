"""Run reports: reports/<run-id>/report.json, summary.md, timeline.png; reports/latest -> newest."""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

REPORTS_DIR = "reports"
ALARM_COLOURS = {"ALARM": "#f4a6a6", "OK": "#b8e0b8", "INSUFFICIENT_DATA": "#dddddd"}


def new_run_dir(root: Path | str = REPORTS_DIR, prefix: str = "") -> Path:
    """A new, empty directory root/<prefix><UTC time>-<6 hex digits>."""
    run_id = prefix + time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + uuid.uuid4().hex[:6]
    path = Path(root) / run_id
    path.mkdir(parents=True, exist_ok=False)
    return path


def write_report(
    run_dir: Path, meta: dict[str, Any], results: list[dict[str, Any]], *, picture: bool = True
) -> Path:
    """report.json, summary.md and (with `picture`) timeline.png of the results so far."""
    doc = {
        **meta,
        "run_id": run_dir.name,
        "experiments": results,
        "passed": bool(results) and all(r["verdict"] == "pass" for r in results),
        "suite_timing": suite_timing(results),
    }
    write_documents(run_dir, doc, {"summary.md": summary_markdown(doc)})
    if picture:
        try:
            timeline_png(results, run_dir / "timeline.png")
        except Exception:  # a broken picture must not hide the verdicts
            logger.exception("timeline picture failed")
    _point_latest(run_dir)
    return run_dir / "report.json"


def write_documents(run_dir: Path, doc: dict[str, Any], texts: Mapping[str, str]) -> Path:
    """`doc` as run_dir/report.json and each text under its file name; report.json's path."""
    (run_dir / "report.json").write_text(json.dumps(doc, indent=2, default=str))
    for name, text in texts.items():
        (run_dir / name).write_text(text)
    return run_dir / "report.json"


def _point_latest(run_dir: Path) -> None:
    latest = run_dir.parent / "latest"
    tmp = run_dir.parent / f".latest.{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(run_dir.name)
    os.replace(tmp, latest)  # atomic: a reader never sees "latest" missing


SUITE_BOUND_GOAL = 1.15  # issue 16: the suite's wall time within 15% of its lower bound


def suite_timing(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The suite's wall time against the lower bound its stack settings impose: each
    experiment's floor (the waits its dead-lettered events had to sit out: visibility
    timeout x maxReceiveCount, Lambda's async retry delays, the event age), experiments of
    one group (pattern) one after another, groups side by side as they ran: the bound is
    the longest group's floors, or all floors shared over the most experiments that ran at
    once, whichever is larger. None when no row carries its times."""
    timed = [r for r in rows if r.get("began_at") is not None and r.get("ended_at") is not None]
    if not timed:
        return None
    wall = max(r["ended_at"] for r in timed) - min(r["began_at"] for r in timed)
    edges = sorted(
        [(r["began_at"], 1) for r in timed] + [(r["ended_at"], -1) for r in timed],
        key=lambda edge: (edge[0], edge[1]),
    )
    running = at_once = 0
    for _, step in edges:
        running += step
        at_once = max(at_once, running)
    groups: dict[str, float] = {}
    for r in timed:
        group = r.get("group") or r["name"]
        groups[group] = groups.get(group, 0.0) + float(r.get("floor_s") or 0.0)
    total = sum(groups.values())
    bound = max(max(groups.values(), default=0.0), total / max(at_once, 1))
    return {
        "wall_s": round(wall, 1),
        "lower_bound_s": round(bound, 1),
        "ratio": round(wall / bound, 2) if bound > 0 else None,
        "goal_ratio": SUITE_BOUND_GOAL,
        "experiments_at_once": at_once,
    }


def _timing_line(timing: dict[str, Any] | None) -> list[str]:
    if timing is None:
        return []
    if timing["ratio"] is None:
        return [
            f"Suite wall time {timing['wall_s']} s; its stack settings impose no wait"
            " (no experiment dead-lettered an event), so no lower bound to compare with."
        ]
    return [
        f"Suite wall time {timing['wall_s']} s against a lower bound of"
        f" {timing['lower_bound_s']} s from the stack's settings (the visibility timeouts,"
        f" retry delays and event ages its events sat out for the attempts they failed;"
        f" {timing['experiments_at_once']} at once): **{timing['ratio']}x** (goal"
        f" <= {timing['goal_ratio']}x)."
    ]


def summary_markdown(doc: dict[str, Any]) -> str:
    rows = doc["experiments"]
    lines = [
        f"# Chaos run {doc['run_id']}",
        "",
        f"Stack `{doc.get('stack')}` at {doc.get('endpoint') or 'AWS'};"
        f" {sum(r['verdict'] == 'pass' for r in rows)}/{len(rows)} experiments passed;"
        f" lost events in total: **{sum(r['lost'] for r in rows)}**.",
        *_timing_line(doc.get("suite_timing")),
    ]
    if doc.get("time_compressed"):
        lines.append(
            f"Time compressed by the local cloud (scale {doc.get('time_scale')}): "
            f"{', '.join(doc.get('compressed_delays') or []) or 'fixed AWS delays'}."
        )
    lines += [
        "",
        "| experiment | pattern | fault | verdict | sent | processed | dead-lettered | lost |"
        " duplicates | settled s (budget = computed + slack) | alarms (expected / observed s) |"
        " wall s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        alarms = (
            "; ".join(
                f"{a['alarm']}: {a.get('expected_within_s')} / {a.get('observed_after_s')}"
                for a in r["alarms"]
            )
            or "-"
        )
        lines.append(
            f"| {r['name']} | {r['pattern']} | {r['fault']} | **{r['verdict']}** |"
            f" {r['sent']} | {r['processed']} | {r['dead_lettered']} | {r['lost']} |"
            f" {r['duplicates']} | {r.get('settled_after_s')} ({_budget(r)}) | {alarms} |"
            f" {r['wall_time_s']} |"
        )
    failing = [r for r in rows if r["verdict"] != "pass"]
    if failing:
        lines += ["", "## Why it failed", ""]
        for r in failing:
            lines += [f"### {r['name']}", "", "```", *r["verdicts"], "```", ""]
    lines += ["", "![timeline](timeline.png)", ""]
    return "\n".join(lines)


def _budget(row: dict[str, Any]) -> str:
    computed, slack = row.get("budget_computed_s"), row.get("budget_slack_s")
    if computed is None or slack is None:
        return str(row.get("budget_s"))
    return f"{row.get('budget_s')} = {computed} + {slack}"


def timeline_png(results: list[dict[str, Any]], path: Path) -> None:
    # Imported here: matplotlib costs a second at import, and the pytest plugin and the CLI's
    # rollback must start fast.
    import matplotlib

    matplotlib.use("Agg")  # headless: CI and the demo have no display
    import matplotlib.pyplot as plt

    n = max(len(results), 1)
    fig, axes = plt.subplots(n, 1, figsize=(11, 1.8 * n + 0.6), squeeze=False)
    for ax, r in zip(axes[:, 0], results, strict=False):
        tl = r.get("timeline") or {}
        end = max([tl.get("end") or 0, *(tl.get("sent") or [0]), *(tl.get("dlq") or [0])]) or 1
        _alarm_bands(ax, tl.get("alarms") or [], end)
        ax.scatter(
            tl.get("sent") or [],
            [2] * len(tl.get("sent") or []),
            marker="|",
            s=120,
            color="#1f77b4",
            label="sent",
        )
        ax.scatter(
            tl.get("failed_sends") or [],
            [1.5] * len(tl.get("failed_sends") or []),
            marker="x",
            color="#d62728",
            label="failed send",
        )
        failures = tl.get("failures") or []
        ax.scatter(
            [f[0] for f in failures],
            [1.5] * len(failures),
            s=[20 + 10 * min(f[1], 20) for f in failures],
            marker="o",
            color="#9467bd",
            alpha=0.6,
            label="function errors (per 10 s)",
        )
        ax.scatter(
            tl.get("dlq") or [],
            [1] * len(tl.get("dlq") or []),
            marker="v",
            color="#ff7f0e",
            label="DLQ arrival",
        )
        ax.set_xlim(0, end * 1.05)
        ax.set_ylim(0.5, 2.5)
        ax.set_yticks([1, 1.5, 2], ["DLQ", "failures", "sent"])
        ax.set_title(f"{r['name']} — {r['verdict']}", fontsize=9, loc="left")
    axes[-1, 0].set_xlabel("seconds since the method started (bands: alarm state)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _alarm_bands(ax: Any, transitions: list[dict[str, Any]], end: float) -> None:
    ordered = sorted(transitions, key=lambda t: t["at"] or 0)
    for i, t in enumerate(ordered):
        stop = ordered[i + 1]["at"] if i + 1 < len(ordered) else end
        ax.axvspan(
            max(t["at"] or 0, 0),
            stop,
            color=ALARM_COLOURS.get(t["new"], "#eeeeee"),
            alpha=0.5,
            lw=0,
        )


def load_report(run: str, root: Path | str = REPORTS_DIR) -> dict[str, Any]:
    path = Path(root) / run / "report.json"
    if not path.exists():
        known = sorted(p.name for p in Path(root).glob("*") if (p / "report.json").exists())
        raise FileNotFoundError(f"no report {path} (runs: {', '.join(known[-5:]) or 'none'})")
    return json.loads(path.read_text())
