"""`python -m chaos list | run | rollback | report`."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from chaos import logs, probes, report
from chaos.errors import ChaosError, UnknownStackError
from chaos.experiments import CATALOG, ci_subset, select, templates_named
from chaos.faults import rollback
from chaos.journal import Journal
from chaos.preflight import preflight
from chaos.session import for_stack, prepare, run_all
from chaos.stack import Stack, load_stack, validate_stack_name

logger = logging.getLogger(__name__)


class OneLineParser(argparse.ArgumentParser):
    """argparse, with a usage error as one line and exit 2 (every command of the project)."""

    def error(self, message: str) -> NoReturn:
        # argparse prints the whole usage first; one line names what is wrong and what is
        # allowed (argparse's message lists the choices), `--help` shows the rest.
        self.exit(2, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="python -m chaos", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list", help="list the experiments (of a stack: one per instance)")
    ls.add_argument("--stack", help="the experiments this stack's instances get")
    ls.add_argument("--endpoint", help="endpoint URL (default: the stack's, or AWS)")
    ls.add_argument("--json", action="store_true", help="one JSON object per experiment")
    _cwd_option(ls)
    run = sub.add_parser("run", help="run experiments against a stack")
    run.add_argument("--stack", required=True)
    _cwd_option(run)
    run.add_argument("--experiment", action="append", help="name (repeatable); default: all")
    run.add_argument("--ci", action="store_true", help="only the fast subset run in CI")
    run.add_argument("--force", action="store_true", help="run on a stack not marked chaos-enabled")
    run.add_argument("--guard", action="append", default=[], help="extra guard alarm name")
    run.add_argument("--endpoint", help="endpoint URL (default: the stack's, or AWS)")
    run.add_argument("--reports", default=report.REPORTS_DIR)
    run.add_argument("--serial", action="store_true", help="one experiment at a time")
    rb = sub.add_parser("rollback", help="undo every journalled change of a stack")
    rb.add_argument("--stack", required=True)
    _cwd_option(rb)
    rb.add_argument("--endpoint")
    rb.add_argument(
        "--discard",
        action="store_true",
        help="forget the stack's pending changes without restoring them (the stack is gone);"
        " the journal is archived, not deleted",
    )
    rep = sub.add_parser("report", help="print a run's summary")
    rep.add_argument("run", help="run id, or 'latest'")
    rep.add_argument("--reports", default=report.REPORTS_DIR)
    return p


def _cwd_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cwd",
        "-C",
        default=".",
        metavar="DIR",
        help="the Pulumi program's directory (as `pulumi -C DIR`): its stack outputs"
        " (DIR/.localcloud/<stack>/, or `pulumi stack output` there) and the rollback"
        " journal (DIR/.chaos/) (default: .)",
    )


def _program_dir(option: str) -> Path:
    root = Path(option)
    if not root.is_dir():
        raise UnknownStackError(
            f"--cwd {option}: no such directory; allowed: the directory of a deployed"
            " Pulumi program"
        )
    return root


# 128 + the signal number: what a shell reports for a process ended by that signal.
EXIT_SIGINT = 128 + signal.SIGINT
EXIT_SIGTERM = 128 + signal.SIGTERM
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _install_stop_handlers(
    faults: Any, write_report: Callable[[str], None], console: Console
) -> Callable[[], None]:
    """SIGINT/SIGTERM: roll back at once, write the report, and end the process with 128+N.

    The experiments' threads are not waited for: the journal is closed first, so none of them
    can make a new change, and the one change in flight is waited for (Faults.stop) before
    the rollback. Returns a function that puts the previous handlers back."""
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}

    def on_signal(signum: int, _frame: object) -> None:
        for sig in STOP_SIGNALS:  # a second Ctrl-C must not interrupt the rollback
            signal.signal(sig, signal.SIG_IGN)
        name = signal.Signals(signum).name
        status = 128 + signum
        try:
            restored = faults.stop(f"{name} received")
            said = f"{len(restored)} change(s) rolled back"
        except ChaosError as exc:
            said = f"rollback incomplete: {exc}; run `python -m chaos rollback`"
            status = 1
        try:
            write_report(name)
        except Exception:  # the rollback is what matters; the report is best effort here
            logger.exception("report after %s failed", name)
        if faults.lease is not None:
            try:
                faults.lease.release()
            except ChaosError as exc:
                logger.warning("%s", exc)
        console.print(f"[yellow]{name}:[/yellow] run stopped, {said}; exit {status}")
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)

    for sig in STOP_SIGNALS:
        signal.signal(sig, on_signal)

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


def run(
    stack_name: str,
    names: list[str] | None,
    *,
    ci: bool = False,
    force: bool = False,
    guards: list[str] | None = None,
    endpoint: str | None = None,
    reports_root: str = report.REPORTS_DIR,
    console: Console | None = None,
    root: Path | str = ".",
    parallel: bool = True,
    stack: Stack | None = None,
    stop_on_signal: bool = False,
    run_dir: Path | None = None,
) -> tuple[Path, list[dict[str, Any]]]:
    """Run experiments on a stack and write the report; `stack` skips loading (the demo passes
    the one it just deployed), `run_dir` writes into a run directory made before (the demo's,
    which files the whole run's library log); otherwise a new one under `reports_root`, with
    the libraries' logs filed in it. `stop_on_signal` (the CLI): SIGINT/SIGTERM roll back at
    once and end the process with 130/143."""
    console = console or Console(stderr=True)
    templates = templates_named(names) if names else list(ci_subset() if ci else CATALOG)
    stack = stack or load_stack(stack_name, root=root, endpoint=endpoint)
    # What runs: each template per instance of its type, fan-out ones once per subscriber.
    experiments = for_stack(stack, templates)
    if names:
        experiments = select(experiments, names)
    stack.check_reachable()
    faults = prepare(stack, force=force, root=root, guards=guards or ())
    try:
        with contextlib.ExitStack() as filed:
            if run_dir is None:  # made after preflight: bad input writes nothing
                run_dir = report.new_run_dir(reports_root)
                filed.enter_context(logs.library_log(run_dir))
            return _run_prepared(
                stack, experiments, faults, guards, run_dir, console, parallel, stop_on_signal
            )
    finally:
        if faults.lease is not None:
            faults.lease.release()


def _run_prepared(
    stack: Stack,
    experiments: list[Any],
    faults: Any,
    guards: list[str] | None,
    run_dir: Path,
    console: Console,
    parallel: bool,
    stop_on_signal: bool,
) -> tuple[Path, list[dict[str, Any]]]:
    info = probes.local_cloud_info(stack.endpoint)
    results: list[dict[str, Any]] = []
    meta = {
        "stack": stack.name,
        "endpoint": stack.endpoint,
        "time_compressed": bool(info),
        "time_scale": info.get("time_scale", 1.0) if info else 1.0,
        "compressed_delays": info.get("compressed_delays") or info.get("compressed") or [],
    }
    lock = threading.Lock()

    def write_stopped(signal_name: str) -> None:
        with lock:
            report.write_report(run_dir, {**meta, "stopped_by": signal_name}, list(results))

    restore_handlers = (
        _install_stop_handlers(faults, write_stopped, console)
        if stop_on_signal and threading.current_thread() is threading.main_thread()
        else (lambda: None)
    )
    try:
        _drive(
            stack,
            experiments,
            faults,
            guards,
            run_dir,
            info,
            meta,
            results,
            lock,
            console,
            parallel,
        )
    finally:
        restore_handlers()
    order = {e.name: i for i, e in enumerate(experiments)}
    results.sort(key=lambda r: order[r["name"]])
    report.write_report(run_dir, meta, results)
    faults.journal.archive_if_settled()
    return run_dir, results


def _drive(
    stack: Stack,
    experiments: list[Any],
    faults: Any,
    guards: list[str] | None,
    run_dir: Path,
    info: dict[str, Any],
    meta: dict[str, Any],
    results: list[dict[str, Any]],
    lock: threading.Lock,
    console: Console,
    parallel: bool,
) -> None:
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        overall = bar.add_task(
            f"{len(experiments)} experiments on {stack.name}", total=len(experiments)
        )
        tasks = {e.name: bar.add_task(f"{e.name}: queued", total=None) for e in experiments}

        def on_result(result: dict[str, Any]) -> None:
            bar.update(
                tasks[result["name"]],
                total=1,
                completed=1,
                description=f"{result['name']}: {result['verdict']} ({result['wall_time_s']}s)",
            )
            bar.advance(overall)
            with lock:
                results.append(result)
                # Kept current: a crash leaves one. The picture (1-2 s of matplotlib, under
                # this lock, in an experiment's thread) is drawn once, when the runs end.
                report.write_report(run_dir, meta, results, picture=False)

        run_all(
            stack,
            experiments,
            faults=faults,
            run_dir=run_dir,
            cloud_info=info,
            preflight=preflight,
            parallel=parallel,
            extra_guards=guards or (),
            on_result=on_result,
            progress=lambda name, m: bar.update(tasks[name], description=f"{name}: {m}"),
        )


# Commands of layers above chaos/ (e.g. `mutate`, which deploys on the local cloud: app/),
# registered as entry points so that chaos/ never imports them: name -> "module:main".
COMMAND_GROUP = "failmodes.chaos_commands"


def _plugin_commands() -> dict[str, Any]:
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=COMMAND_GROUP)}


def main(argv: list[str] | None = None) -> int:
    logs.console_logging()
    argv = list(sys.argv[1:] if argv is None else argv)
    plugins = _plugin_commands()
    if argv and argv[0] in plugins:
        return int(plugins[argv[0]].load()(argv) or 0)
    if argv[:1] in (["-h"], ["--help"]) and plugins:
        _parser().print_help()
        print(f"\nmore commands: {', '.join(sorted(plugins))} (python -m chaos <command> --help)")
        return 0
    args = _parser().parse_args(argv)
    console = Console()
    try:
        root = _program_dir(args.cwd) if hasattr(args, "cwd") else Path(".")
        if args.command == "list":
            if args.cwd != "." and not args.stack:
                raise UnknownStackError(
                    f"list --cwd {args.cwd}: which of its stacks? allowed: --stack NAME"
                    " with --cwd (without both, the catalog)"
                )
            return _list(args, console, root)
        if args.command == "rollback":
            return _rollback(args, console, root)
        if args.command == "report":
            doc = report.load_report(args.run, args.reports)
            console.print(report.summary_markdown(doc), markup=False)  # "name[sub]" is no tag
            return 0 if doc.get("passed") else 1
        run_dir, results = run(
            args.stack,
            args.experiment,
            ci=args.ci,
            force=args.force,
            guards=args.guard,
            endpoint=args.endpoint,
            reports_root=args.reports,
            root=root,
            stop_on_signal=True,
        )
        summary = report.summary_markdown(report.load_report(run_dir.name, args.reports))
        console.print(summary, markup=False)  # "name[sub]" is an experiment name, not a tag
        console.print(f"report: {run_dir / 'report.json'}")
        return 0 if all(r["verdict"] == "pass" for r in results) else 1
    except (ChaosError, KeyError, FileNotFoundError) as exc:
        # KeyError's str() quotes its message; one line whatever the terminal's width.
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        Console(stderr=True).print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
        return 2


def listed(experiments: list[Any]) -> list[dict[str, Any]]:
    """`chaos list --json`: what each experiment is, for scripts."""
    return [
        {
            "name": e.name,
            "template": e.template,
            "component_type": e.component_type,
            "instance": e.instance or None,  # None: a template, not yet made for a stack
            "output_key": e.pattern if e.instance else None,
            "subscriber": e.failing or None,
            "ci": e.ci,
            "fault": e.fault,
        }
        for e in experiments
    ]


def _list(args: argparse.Namespace, console: Console, root: Path) -> int:
    experiments = list(CATALOG)
    if args.stack:
        experiments = for_stack(
            load_stack(args.stack, root=root, endpoint=args.endpoint), experiments
        )
    rows = listed(experiments)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    title = f"chaos experiments of stack {args.stack}" if args.stack else "chaos experiments"
    table = Table("name", "component", "ci", "fault", title=title)
    for row in rows:
        # "name[instance]" is an experiment name, not a rich markup tag.
        ci = "yes" if row["ci"] else ""
        table.add_row(escape(row["name"]), row["component_type"], ci, escape(row["fault"]))
    console.print(table)
    return 0


def _rollback(args: argparse.Namespace, console: Console, root: Path) -> int:
    if args.discard:
        # The stack may be gone with its state file: the journal alone is enough here.
        validate_stack_name(args.stack)
        journal = Journal(args.stack, root)
        dropped, archived = journal.discard()
        targets = ", ".join(f"{e['kind']} of {e['target']}" for e in dropped) or "none"
        console.print(
            f"discarded {len(dropped)} pending change(s) of stack {args.stack} without"
            f" restoring them ({targets}); journal archived to {archived or '(no journal)'}",
            highlight=False,
        )
        return 0
    stack = load_stack(args.stack, root=root, endpoint=args.endpoint)
    restored = rollback(stack, Journal(stack.name, root))
    vanished = [e for e in restored if e.get("vanished")]
    for entry in restored:
        if entry.get("vanished"):
            console.print(
                f"{entry['kind']} of {entry['target']}: no longer exists, counted as rolled back",
                highlight=False,
            )
        else:
            console.print(
                f"restored {entry['kind']} of {entry['target']} to {entry['prior']}",
                highlight=False,
            )
    gone = f" ({len(vanished)} of them on resources that no longer exist)" if vanished else ""
    console.print(f"{len(restored)} change(s) rolled back on {stack.name}{gone}", highlight=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
