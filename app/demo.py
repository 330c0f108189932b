"""`make demo` (`python -m app demo`): the main job on the embedded local cloud.

Start the local cloud, deploy the real Pulumi program onto it (emulated deploy),
run the chaos suite against it and write the report, then destroy the stack and
stop the cloud whatever happened (the local stack session, app.session, with a progress
display). Exit status 1 when anything failed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from app.session import PROJECT_DIR, LocalSession, local_stack
from chaos import cli as chaos_cli
from chaos import logs, report
from chaos.experiments import templates_named

logger = logging.getLogger(__name__)


def _progress(console: Console) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app demo", description=__doc__)
    parser.add_argument("--stack", default="local")
    parser.add_argument(
        "--experiment", action="append", help="chaos experiment to run (repeatable; default: all)"
    )
    parser.add_argument("--ci", action="store_true", help="only the chaos suite's CI subset")
    parser.add_argument("--reports", default=None, help="reports directory (default: reports/)")
    parser.add_argument(
        "--cwd",
        type=Path,
        default=PROJECT_DIR,
        help="the Pulumi program's folder, as `pulumi -C DIR` (default: this project)",
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=None,
        help="local cloud time scale for AWS's fixed delays",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = list(argv or [])
    if args and args[0] == "demo":
        args = args[1:]
    options = _parser().parse_args(args)
    logs.console_logging()
    options.cwd = options.cwd.resolve()
    problem = _bad_input(options)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    console = Console()
    # The run directory is made first, so the libraries' logs of the whole run (start, deploy,
    # experiments, destroy) are filed in it beside the report.
    run_dir = report.new_run_dir(options.reports or options.cwd / report.REPORTS_DIR)
    timings: dict[str, float] = {}
    failures: list[str] = []
    session: LocalSession | None = None
    with contextlib.ExitStack() as resources:  # whatever happens, the session tears down
        library_log = resources.enter_context(logs.library_log(run_dir))
        console.print(f"library logs (moto's own errors and warnings): {library_log}")
        try:
            session = _start(console, resources, options, timings)
            _deploy(console, session, timings)
            _chaos(console, session, run_dir, options, timings, failures)
        except KeyboardInterrupt:
            failures.append("interrupted (Ctrl-C)")
            console.print("[yellow]interrupted: tearing down[/yellow]")
        except Exception as exc:  # reported, then the teardown below still runs
            logger.debug("demo failed", exc_info=True)
            failures.append(f"{type(exc).__name__}: {exc}")
            console.print(f"[red]failed:[/red] {type(exc).__name__}: {exc}", highlight=False)
        finally:
            if session is not None:
                _teardown(console, session, timings, failures)
    _summary(console, timings, failures)
    return 1 if failures else 0


def _bad_input(options: argparse.Namespace) -> str | None:
    """What is wrong with the command line, checked before anything starts."""
    if not (options.cwd / "Pulumi.yaml").is_file():
        return f"--cwd {options.cwd}: no Pulumi.yaml there (allowed: a Pulumi program's folder)"
    try:
        templates_named(options.experiment or [])
    except KeyError as exc:
        return str(exc.args[0])
    return None


def _start(
    console: Console,
    resources: contextlib.ExitStack,
    options: argparse.Namespace,
    timings: dict[str, float],
) -> LocalSession:
    with console.status("starting the local cloud"):
        session = resources.enter_context(
            local_stack(
                options.stack,
                time_scale=options.time_scale,
                deploy=False,
                say=console.print,
                project_dir=options.cwd,
            )
        )
    timings["start cloud"] = session.timings["start_s"]
    cloud = session.cloud
    console.print(
        f"local cloud on {cloud.endpoint} (time scale {cloud.clock.time_scale}: "
        "AWS's fixed retry delays are compressed, the stack's own settings are not)"
    )
    return session


def _deploy(console: Console, session: LocalSession, timings: dict[str, float]) -> None:
    engine = session.engine()
    stack = session.name
    known = _resource_count_estimate(engine)
    with _progress(console) as bar:
        task = bar.add_task(f"up --stack {stack}: creating resources", total=known)

        def on_step(step: Any) -> None:
            bar.update(
                task,
                advance=1,
                description=f"up: {step.action} {step.type.split(':')[-1]} {step.name}",
            )

        t0 = time.monotonic()
        session.deploy(progress=on_step)
        timings["up"] = time.monotonic() - t0
        assert session.result is not None  # set by deploy
        steps = len(session.result.steps)
        bar.update(task, total=steps, completed=steps, description=f"up --stack {stack}: done")
    custom = sum(1 for r in engine.load_state().resources.values() if r.custom)
    console.print(
        f"deployed {custom} resources ({steps} with components) in "
        f"{timings['up']:.1f} s; outputs in {engine.state_dir / stack / 'state.json'}"
    )


def _resource_count_estimate(engine: Any) -> int | None:
    # The program's size is only known once it ran; the last run's count is a fair guess.
    for old in sorted(engine.state_dir.glob(f"{engine.stack}/state.json.stale-*"), reverse=True):
        try:
            return len(json.loads(old.read_text()).get("resources", [])) or None
        except ValueError:
            continue
    return None


def _chaos(
    console: Console,
    session: LocalSession,
    run_dir: Path,
    options: argparse.Namespace,
    timings: dict[str, float],
    failures: list[str],
) -> None:
    stack = session.stack
    assert stack is not None  # deployed by _deploy
    t0 = time.monotonic()
    _, results = chaos_cli.run(
        session.name,
        options.experiment,
        ci=options.ci,
        console=console,
        root=options.cwd,
        stack=stack,
        run_dir=run_dir,
    )
    timings["chaos suite"] = time.monotonic() - t0
    # markup=False: "name[sub]" is an experiment name, not a rich style tag.
    console.print(
        report.summary_markdown(report.load_report(run_dir.name, run_dir.parent)), markup=False
    )
    console.print(f"report: {run_dir / 'report.json'}")
    for result in results:
        if result.get("verdict") != "pass":
            failures.append(f"experiment {result.get('name')}: {result.get('verdict')}")


def _teardown(
    console: Console, session: LocalSession, timings: dict[str, float], failures: list[str]
) -> None:
    engine = session.engine()
    if session.deployed:
        total = len(engine.load_state().resources)
        try:
            with _progress(console) as bar:
                task = bar.add_task(f"destroy --stack {session.name}", total=total)
                t0 = time.monotonic()
                session.destroy(
                    progress=lambda step: bar.update(
                        task,
                        advance=1,
                        description=f"destroy: {step.type.split(':')[-1]} {step.name}",
                    )
                )
                timings["destroy"] = time.monotonic() - t0
            left = len(engine.load_state().resources)
            if left:
                failures.append(f"destroy left {left} resources in the state file")
        except Exception as exc:
            failures.append(f"destroy: {type(exc).__name__}: {exc}")
            console.print(f"[red]destroy failed:[/red] {exc}", highlight=False)
    with console.status("stopping the local cloud"):
        t0 = time.monotonic()
        session.stop()
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
        console.print(
            "[green]demo passed[/green]: every experiment passed, and the stack was destroyed"
        )
