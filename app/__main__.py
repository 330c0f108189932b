"""`python -m app <command>`: the app layer's commands, each a module with `main(argv) -> int`."""

from __future__ import annotations

import importlib
import sys

from localcloud.deploy.config import stack_name_problem

COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("app.demo", "the main job: local cloud, up, chaos suite, report, destroy"),
    "mutate": ("app.mutate.cli", "mutation testing: deploy known bugs, judge the chaos suite"),
}


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] not in COMMANDS and args[0] not in ("-h", "--help"):
        print(
            f"error: unknown command {args[0]!r}; allowed: {', '.join(COMMANDS)}", file=sys.stderr
        )
        return 2
    if not args or args[0] in ("-h", "--help"):
        print("usage: python -m app <command> [options]\n\ncommands:")
        for name, (_, summary) in COMMANDS.items():
            print(f"  {name:<8} {summary}")
        return 0
    bad = stack_name_problem(args[1:])
    if bad:
        print(f"error: {bad}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[args[0]][0])
    return int(module.main(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
