"""`python -m scenarios observability|reliability [--compress F]`: one seed scenario, end to end.

Starts a local cloud, deploys the program with the emulated deploy, runs the scenario, writes
reports/scenarios/<run-id>/ (report.json, report.md, and for observability concurrency.png),
then destroys the stack and stops the cloud, whatever happened.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from app.session import local_stack
from chaos import logs, report
from chaos.cli import OneLineParser
from scenarios import base


def _positive(kind: type, what: str, *, zero: bool = False) -> Any:
    """An argparse type: a number > 0 (>= 0 with zero), else argparse's one-line error."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if value < 0 or (value == 0 and not zero) or value != value:  # NaN fails too
            raise argparse.ArgumentTypeError(
                f"{text!r}: allowed {what} {'>= 0' if zero else '> 0'}"
            )
        return value

    return parse


def _parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m scenarios", description=__doc__)
    parser.add_argument("scenario", choices=("observability", "reliability"))
    parser.add_argument(
        "--compress",
        type=_positive(float, "a number"),
        default=None,
        help="time-compression factor (observability 5, reliability 6)",
    )
    parser.add_argument(
        "--rate-scale",
        type=_positive(float, "a number"),
        default=None,
        help="observability: divide every rate (arrivals and the usage plan) by this (default 4)",
    )
    parser.add_argument(
        "--max-requests",
        type=_positive(int, "an integer"),
        default=None,
        help="cap the requests sent (a smaller run of the same profile)",
    )
    parser.add_argument(
        "--drain",
        type=_positive(float, "a number", zero=True),
        default=None,
        help="observability: seconds the flow variant may drain after the load "
        "(default: as long as the load)",
    )
    parser.add_argument(
        "--variants",
        default=None,
        help="comma-separated subset (observability: direct,flow; reliability: "
        "provisioned,on_demand)",
    )
    parser.add_argument("--reports", default=str(base.REPORTS_ROOT), help="reports root")
    return parser


def main(argv: list[str] | None = None) -> int:
    options = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    logs.console_logging()
    try:
        run_dir = run(options)
    except base.ScenarioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print((run_dir / "report.md").read_text())
    print(f"report: {run_dir / 'report.json'}")
    doc = json.loads((run_dir / "report.json").read_text())
    return 0 if doc.get("passed") else 1


def run(options: argparse.Namespace) -> Path:
    from scenarios import observability, plot, reliability

    module = observability if options.scenario == "observability" else reliability
    compress = options.compress or module.DEFAULT_COMPRESS
    if options.scenario == "observability":
        params = module.parameters(compress, options.rate_scale or module.DEFAULT_RATE_SCALE)
    elif options.rate_scale not in (None, 1):
        raise base.ScenarioError(
            "--rate-scale is for observability only: the reliability "
            "scenario's rate meets a capacity unit, itself a rate"
        )
    else:
        params = module.parameters(compress)
    variants = options.variants.split(",") if options.variants else list(module.VARIANTS)
    unknown = [v for v in variants if v not in module.VARIANTS]
    if unknown:
        raise base.ScenarioError(
            f"unknown variant(s) {unknown}; choose from {list(module.VARIANTS)}"
        )
    run_dir = report.new_run_dir(Path(options.reports), prefix=f"{options.scenario}-")
    # Every dead letter as read (with its error attributes), for a look at why it failed.
    params["record_to"] = run_dir / "dead_letters.jsonl"
    limits = base.HOST_LIMITS
    with (
        logs.library_log(run_dir),
        tempfile.TemporaryDirectory(prefix="scenario-state-") as state_dir,
        base.host_limits(limits),
    ):
        applied = {name: os.environ[name] for name in limits}  # the caller's values win
        print(
            f"starting the local cloud (time scale {params['time_scale']}, host limits {applied})"
        )
        with local_stack(
            time_scale=params["time_scale"], state_dir=Path(state_dir), deploy=False, say=print
        ) as deployment:
            print(f"deploying the program (emulated deploy), compress {compress:g}x")
            if options.scenario == "observability":
                doc = observability.run(
                    deployment,
                    params,
                    variants=variants,
                    max_requests=options.max_requests,
                    drain_seconds=options.drain,
                )
            else:
                doc = reliability.run(
                    deployment, params, variants=variants, max_requests=options.max_requests
                )
    doc["passed"] = module.passed(doc)
    picture = None
    if options.scenario == "observability":
        picture = plot.concurrency_png(doc, run_dir / "concurrency.png")
    report.write_documents(run_dir, doc, {"report.md": module.markdown(doc, picture)})
    return run_dir


if __name__ == "__main__":
    raise SystemExit(main())
