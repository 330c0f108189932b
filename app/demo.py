"""`make demo` (`python -m localcloud demo`): the main job on the embedded local cloud.

Start the local cloud, deploy the real Pulumi program onto it (emulated deploy),
run the chaos suite against it and write the report, then destroy the stack and
stop the cloud whatever happened. Exit status 1 when anything failed.
"""
from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

logger = logging.getLogger(__name__)

PROJECT_DIR = Path(__file__).resolve().parent.parent


def _progress(console: Console) -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                    TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                    console=console)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m localcloud demo", description=__doc__)
    parser.add_argument("--stack", default="local")
    parser.add_argument("--experiment", action="append",
                        help="chaos experiment to run (repeatable; default: all)")
    parser.add_argument("--ci", action="store_true", help="only the chaos suite's CI subset")
    parser.add_argument("--reports", default=None, help="reports directory (default: reports/)")
    parser.add_argument("--time-scale", type=float, default=None,
                        help="local cloud time scale for AWS's fixed delays")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = list(argv or [])
    if args and args[0] == "demo":
        args = args[1:]
    options = _parser().parse_args(args)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    console = Console()
    timings: dict[str, float] = {}
    failures: list[str] = []
    cloud: Any = None
    engine: Any = None
    try:
        cloud = _start_cloud(console, options.time_scale, timings)
        engine = _deploy(console, cloud, options.stack, timings)
        _chaos(console, cloud, engine, options, timings, failures)
    except KeyboardInterrupt:
        failures.append("interrupted (Ctrl-C)")
        console.print("[yellow]interrupted: tearing down[/yellow]")
    except Exception as exc:  # reported, then the teardown below still runs
        logger.debug("demo failed", exc_info=True)
        failures.append(f"{type(exc).__name__}: {exc}")
        console.print(f"[red]failed:[/red] {type(exc).__name__}: {exc}", highlight=False)
    finally:
        _teardown(console, cloud, engine, timings, failures)
    _summary(console, timings, failures)
    return 1 if failures else 0


def _start_cloud(console: Console, time_scale: float | None, timings: dict[str, float]) -> Any:
    import localcloud

    with console.status("starting the local cloud"):
        t0 = time.monotonic()
        cloud = localcloud.start(time_scale=time_scale)
        timings["start cloud"] = time.monotonic() - t0
    console.print(f"local cloud on {cloud.endpoint} (time scale {cloud.clock.time_scale}: "
                  "AWS's fixed retry delays are compressed, the stack's own settings are not)")
    return cloud


def _deploy(console: Console, cloud: Any, stack: str, timings: dict[str, float]) -> Any:
    from localcloud.deploy import Engine, project_policy

    engine = Engine(PROJECT_DIR, stack, cloud.endpoint, policy=project_policy(PROJECT_DIR))
    state = engine.load_state()
    if state.resources:
        # This cloud was just started, empty: whatever the file lists lived in a cloud
        # that is gone, so it cannot be updated or deleted from here.
        moved = engine.forget()
        console.print(f"stale state of stack {stack!r} from an earlier cloud moved to {moved}")
    known = _resource_count_estimate(engine)
    with _progress(console) as bar:
        task = bar.add_task(f"up --stack {stack}: creating resources", total=known)

        def on_step(step: Any) -> None:
            bar.update(task, advance=1, description=f"up: {step.action} {step.type.split(':')[-1]} "
                                                     f"{step.name}")

        engine.progress = on_step
        t0 = time.monotonic()
        result = engine.up()
        timings["up"] = time.monotonic() - t0
        bar.update(task, total=len(result.steps), completed=len(result.steps),
                   description=f"up --stack {stack}: done")
    engine.progress = None
    custom = sum(1 for r in engine.load_state().resources.values() if r.custom)
    console.print(f"deployed {custom} resources ({len(result.steps)} with components) in "
                  f"{timings['up']:.1f} s; outputs in {engine.state_dir / stack / 'state.json'}")
    return engine


def _resource_count_estimate(engine: Any) -> int | None:
    # The program's size is only known once it ran; the last run's count is a fair guess.
    for old in sorted(engine.state_dir.glob(f"{engine.stack}/state.json.stale-*"), reverse=True):
        import json

        try:
            return len(json.loads(old.read_text()).get("resources", [])) or None
        except ValueError:
            continue
    return None


def _chaos(console: Console, cloud: Any, engine: Any, options: argparse.Namespace,
           timings: dict[str, float], failures: list[str]) -> None:
    from chaos import cli as chaos_cli
    from chaos import report
    from chaos.stack import Stack
    from components import outputs as keys

    outputs = engine.load_state().outputs
    stack = Stack(name=engine.stack, outputs=outputs, endpoint=cloud.endpoint,
                  region=str(outputs.get(keys.REGION) or "us-east-1"),
                  source=f"emulated deploy on {cloud.endpoint}")
    reports_root = options.reports or str(PROJECT_DIR / report.REPORTS_DIR)
    t0 = time.monotonic()
    run_dir, results = chaos_cli.run(engine.stack, options.experiment, ci=options.ci,
                                     console=console, root=PROJECT_DIR, stack=stack,
                                     reports_root=reports_root)
    timings["chaos suite"] = time.monotonic() - t0
    console.print(report.summary_markdown(report.load_report(run_dir.name, reports_root)))
    console.print(f"report: {run_dir / 'report.json'}")
    for result in results:
        if result.get("verdict") != "pass":
            failures.append(f"experiment {result.get('name')}: {result.get('verdict')}")


def _teardown(console: Console, cloud: Any, engine: Any, timings: dict[str, float],
              failures: list[str]) -> None:
    if engine is not None:
        total = len(engine.load_state().resources)
        try:
            with _progress(console) as bar:
                task = bar.add_task(f"destroy --stack {engine.stack}", total=total)
                engine.progress = lambda step: bar.update(
                    task, advance=1, description=f"destroy: {step.type.split(':')[-1]} {step.name}")
                t0 = time.monotonic()
                engine.destroy()
                timings["destroy"] = time.monotonic() - t0
            left = len(engine.load_state().resources)
            if left:
                failures.append(f"destroy left {left} resources in the state file")
        except Exception as exc:
            failures.append(f"destroy: {type(exc).__name__}: {exc}")
            console.print(f"[red]destroy failed:[/red] {exc}", highlight=False)
    if cloud is not None:
        with console.status("stopping the local cloud"):
            t0 = time.monotonic()
            cloud.stop()
            timings["stop cloud"] = time.monotonic() - t0


def _summary(console: Console, timings: dict[str, float], failures: list[str]) -> None:
    table = Table("phase", "seconds", title="make demo")
    for phase, seconds in timings.items():
        table.add_row(phase, f"{seconds:.1f}")
    console.print(table)
    if failures:
        console.print("[red]FAILED[/red]:")
        for failure in failures:
            console.print(f"  - {failure}", highlight=False)
    else:
        console.print("[green]demo passed[/green]: every experiment passed, and the stack was "
                      "destroyed")
