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
from typing import Any

from .engine import Engine, Step
from .exceptions import DeployError, PolicyViolations
from .program import PolicyCheck, load_policy_pack
from .state import StackState

logger = logging.getLogger(__name__)

COMMANDS = ("up", "preview", "destroy", "outputs")
# Where `pulumi up --policy-pack policy` finds this project's pack; used when present.
DEFAULT_POLICY_PACK = "policy"
ALLOW_FLAG = "--allow-policy-violations"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m localcloud",
                                     description="Emulated deploy of the Pulumi program "
                                                 "onto the local cloud.")
    parser.add_argument("command", choices=COMMANDS)
    parser.add_argument("--stack", "-s", default="local", help="stack name (default: local)")
    parser.add_argument("--endpoint", default=None,
                        help="local cloud URL (default: $AWS_ENDPOINT_URL)")
    parser.add_argument("--cwd", "-C", default=".",
                        help="project directory holding Pulumi.yaml (default: .)")
    parser.add_argument("--state-dir", default=None,
                        help="where state lives (default: <cwd>/.localcloud)")
    parser.add_argument("--config", "-c", action="append", default=[], metavar="KEY=VALUE",
                        help="config override for this run (repeatable)")
    parser.add_argument("--json", action="store_true", help="outputs: print JSON")
    parser.add_argument("--quiet", "-q", action="store_true",
                        help="up/destroy: no line per resource")
    parser.add_argument("--policy-pack", default=None, metavar="DIR",
                        help="up/preview: policy pack whose mandatory checks gate the deploy "
                             f"(default: <cwd>/{DEFAULT_POLICY_PACK} when it exists)")
    parser.add_argument(ALLOW_FLAG, action="store_true",
                        help="up/preview: deploy a program that violates the policy pack "
                             "anyway (experiments on deliberately broken stacks), printing "
                             "each violation as a warning")
    return parser


def _policy(project_dir: Path, option: str | None) -> PolicyCheck | None:
    pack = Path(option) if option else project_dir / DEFAULT_POLICY_PACK
    if not option and not (pack / "PulumiPolicy.yaml").is_file():
        return None
    return load_policy_pack(pack if pack.is_absolute() else Path.cwd() / pack)


def main(argv: list[str] | None = None) -> int:
    options = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    project_dir = Path(options.cwd).resolve()
    state_dir = Path(options.state_dir) if options.state_dir else project_dir / ".localcloud"
    if options.command == "outputs":
        return _outputs(StackState.load(state_dir, options.stack), as_json=options.json)
    endpoint = options.endpoint or os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        print("error: no local cloud endpoint: pass --endpoint or set AWS_ENDPOINT_URL "
              "(start one with `python -m localcloud serve`)", file=sys.stderr)
        return 2
    overrides: dict[str, str] = {}
    for item in options.config:
        key, sep, value = item.partition("=")
        if not sep or not key:
            print(f"error: --config {item!r}: expected KEY=VALUE", file=sys.stderr)
            return 2
        overrides[key] = value
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    printer = None if options.quiet or options.command == "preview" else _print_step
    try:
        policy = _policy(project_dir, options.policy_pack) if options.command in (
            "up", "preview") else None
    except DeployError as exc:
        print(f"error: --policy-pack: {exc}", file=sys.stderr)
        return 2
    engine = Engine(project_dir, options.stack, endpoint, state_dir=state_dir,
                    config_overrides=overrides, progress=printer, policy=policy,
                    allow_policy_violations=options.allow_policy_violations)
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
        print(f"error: {options.command} {options.stack} refused by the policy pack: {exc}; "
              f"pass {ALLOW_FLAG} to deploy it anyway", file=sys.stderr)
        return 2
    except DeployError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for violation in result.violations:
        print(f"warning: policy violation deployed anyway: {violation}", file=sys.stderr)
    counts = ", ".join(f"{n} {action}" for action, n in sorted(result.counts().items()))
    verb = {"preview": "would change", "up": "changed", "destroy": "deleted"}[options.command]
    print(f"{options.command} {options.stack}: {counts or 'no resources'} "
          f"({result.changes} {verb}) in {result.seconds:.1f} s")
    if options.command == "preview":
        print("preview is computed against the state file; values that come from resources "
              "not yet created are unknown, so their dependents show as updates")
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
