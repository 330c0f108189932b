"""`python -m localcloud up|preview|destroy|outputs --stack S [--endpoint URL] [--cwd DIR]`.

The local cloud is found through `--endpoint` or the standard `AWS_ENDPOINT_URL`
(start one with `python -m localcloud serve`). `up` and `preview` run the project's
policy pack (`<cwd>/policy`, or `--policy-pack DIR`) first, as `pulumi up --policy-pack
policy` does, and refuse a program that violates a mandatory check unless
`--allow-policy-violations` is given.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import requests

from localcloud.errors import LocalCloudError

from .config import PROJECT_FILE, ProgramConfigError, check_stack_name, load_config
from .engine import Engine, Step
from .exceptions import DeployError, PolicyViolations
from .program import DEFAULT_POLICY_PACK, PolicyCheck, load_policy_pack, project_policy
from .state import StackState

logger = logging.getLogger(__name__)

COMMANDS = ("up", "preview", "destroy", "outputs")
# Where `pulumi up --policy-pack policy` finds this project's pack; used when present.
ALLOW_FLAG = "--allow-policy-violations"


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse prints the whole usage first; one line names what is wrong and what is
        # allowed (argparse's message lists the choices), `--help` shows the rest.
        self.exit(2, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="python -m localcloud",
        description="Emulated deploy of the Pulumi program onto the local cloud.",
    )
    parser.add_argument("command", choices=COMMANDS)
    parser.add_argument("--stack", "-s", default="local", help="stack name (default: local)")
    parser.add_argument(
        "--endpoint", default=None, help="local cloud URL (default: $AWS_ENDPOINT_URL)"
    )
    parser.add_argument(
        "--cwd",
        "-C",
        default=".",
        help=f"the program's directory, holding {PROJECT_FILE} (as `pulumi -C DIR`; default: .)",
    )
    parser.add_argument(
        "--state-dir",
        default=None,
        help="where state lives (default: <cwd>/.localcloud, per program)",
    )
    parser.add_argument(
        "--config",
        "-c",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override for this run (repeatable)",
    )
    parser.add_argument("--json", action="store_true", help="outputs: print JSON")
    parser.add_argument(
        "--quiet", "-q", action="store_true", help="up/destroy: no line per resource"
    )
    parser.add_argument(
        "--policy-pack",
        default=None,
        metavar="DIR",
        help="up/preview: policy pack whose mandatory checks gate the deploy "
        f"(default: <cwd>/{DEFAULT_POLICY_PACK} when it exists)",
    )
    parser.add_argument(
        ALLOW_FLAG,
        action="store_true",
        help="up/preview: deploy a program that violates the policy pack "
        "anyway (experiments on deliberately broken stacks), printing "
        "each violation as a warning",
    )
    return parser


def _policy(project_dir: Path, option: str | None) -> PolicyCheck | None:
    if not option:
        return project_policy(project_dir)
    pack = Path(option)
    return load_policy_pack(pack if pack.is_absolute() else Path.cwd() / pack)


class UsageError(LocalCloudError):
    """Bad input: one line on stderr, exit status 2, nothing changed."""


HEALTH_PATH = "/_localcloud/health"


def _check_endpoint(endpoint: str) -> None:
    """A URL with a scheme and host, where a local cloud answers, before anything is done."""
    url = urlsplit(endpoint)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise UsageError(
            f"--endpoint {endpoint!r} is not a URL; allowed: http(s)://HOST:PORT "
            "of a local cloud (`python -m localcloud serve` prints it)"
        )
    try:
        requests.get(endpoint.rstrip("/") + HEALTH_PATH, timeout=5).raise_for_status()
    except requests.RequestException as exc:
        raise UsageError(
            f"no local cloud answers at {endpoint} ({type(exc).__name__}); start "
            "one with `python -m localcloud serve` and pass its URL"
        ) from None


def _load_state(state_dir: Path, stack: str, *, must_exist: bool) -> StackState:
    path = state_dir / stack / "state.json"
    if must_exist and not path.exists():
        known = sorted(p.parent.name for p in state_dir.glob("*/state.json"))
        raise UsageError(
            f"unknown stack {stack!r}: no {path}; stacks here: {', '.join(known) or 'none'}"
        )
    try:
        return StackState.load(state_dir, stack)
    except DeployError as exc:  # not JSON, or a state version this deploy does not read
        raise UsageError(str(exc)) from None
    except (AttributeError, TypeError, KeyError, ValueError) as exc:
        # A JSON file of another shape (a list, a resource without its fields, ...).
        raise UsageError(
            f"{path} is not a state file of the emulated deploy ({exc}); move it away to start over"
        ) from None


def _overrides(items: list[str]) -> dict[str, str]:
    overrides: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--config {item!r}: expected KEY=VALUE")
        overrides[key] = value
    return overrides


def main(argv: list[str] | None = None) -> int:
    options = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        return _main(options)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _project_dir(option: str) -> Path:
    """`--cwd DIR` (as `pulumi -C DIR`): a directory holding a Pulumi project file."""
    project_dir = Path(option).resolve()
    if not project_dir.is_dir():
        problem = "no such directory"
    elif not (project_dir / PROJECT_FILE).is_file():
        problem = f"no {PROJECT_FILE} in it"
    else:
        return project_dir
    raise UsageError(
        f"--cwd {option}: {problem}; allowed: the directory of a Pulumi program "
        f"({PROJECT_FILE}, Pulumi.<stack>.yaml, __main__.py)"
    )


def _main(options: argparse.Namespace) -> int:
    project_dir = _project_dir(options.cwd)
    # Per program directory, as Pulumi's own state is per project: two programs' stacks
    # of one name never share a state file.
    state_dir = Path(options.state_dir) if options.state_dir else project_dir / ".localcloud"
    try:
        check_stack_name(options.stack)
    except ProgramConfigError as exc:
        raise UsageError(str(exc)) from None
    if options.command == "outputs":
        state = _load_state(state_dir, options.stack, must_exist=True)
        return _outputs(state, as_json=options.json)
    endpoint = options.endpoint or os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        raise UsageError(
            "no local cloud endpoint: pass --endpoint or set AWS_ENDPOINT_URL "
            "(start one with `python -m localcloud serve`)"
        )
    overrides = _overrides(options.config)
    _load_state(state_dir, options.stack, must_exist=options.command == "destroy")
    if options.command != "destroy":
        # The whole config, provider keys too, before the first resource is created.
        try:
            load_config(options.stack, project_dir, overrides)
        except ProgramConfigError as exc:
            raise UsageError(str(exc)) from None
    _check_endpoint(endpoint)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    printer = None if options.quiet or options.command == "preview" else _print_step
    try:
        policy = (
            _policy(project_dir, options.policy_pack)
            if options.command in ("up", "preview")
            else None
        )
    except DeployError as exc:
        raise UsageError(f"--policy-pack: {exc}") from None
    engine = Engine(
        project_dir,
        options.stack,
        endpoint,
        state_dir=state_dir,
        config_overrides=overrides,
        progress=printer,
        policy=policy,
        allow_policy_violations=options.allow_policy_violations,
    )
    try:
        if options.command == "preview":
            result = engine.preview()
            for step in result.steps:
                print(step.line())
        elif options.command == "up":
            result = engine.up()
        else:
            result = engine.destroy()
    except PolicyViolations as exc:
        for violation in exc.violations:
            print(violation, file=sys.stderr)
        print(
            f"error: {options.command} {options.stack} refused by the policy pack: {exc}; "
            f"pass {ALLOW_FLAG} to deploy it anyway",
            file=sys.stderr,
        )
        return 2
    except DeployError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for violation in result.violations:
        print(f"warning: policy violation deployed anyway: {violation}", file=sys.stderr)
    counts = ", ".join(f"{n} {action}" for action, n in sorted(result.counts().items()))
    verb = {"preview": "would change", "up": "changed", "destroy": "deleted"}[options.command]
    print(
        f"{options.command} {options.stack}: {counts or 'no resources'} "
        f"({result.changes} {verb}) in {result.seconds:.1f} s"
    )
    if options.command == "preview":
        print(
            "preview is computed against the state file; values that come from resources "
            "not yet created are unknown, so their dependents show as updates"
        )
    return 0


def _print_step(step: Step) -> None:
    if step.action != "same":
        print(step.line(), flush=True)


def _outputs(state: StackState, *, as_json: bool) -> int:
    if as_json:
        # `pulumi stack output --json`: one JSON object, two-space indent.
        print(json.dumps(state.outputs, indent=2))
        return 0
    if not state.outputs:
        print(f"no outputs for stack {state.stack!r} (not deployed: run `up` first)")
        return 0
    print(f"Current stack outputs ({len(state.outputs)}):")
    width = max(len(k) for k in state.outputs)
    print(f"    {'OUTPUT':<{width}}  VALUE")
    for key, value in state.outputs.items():
        print(f"    {key:<{width}}  {_plain(value)}")
    return 0


def _plain(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)
