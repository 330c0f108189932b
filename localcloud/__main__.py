"""`python -m localcloud <command>`: each command is a module with `main(argv) -> int`."""

from __future__ import annotations

import importlib
import sys

from localcloud.deploy.config import stack_name_problem

COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("localcloud.server", "run the local cloud endpoint on 127.0.0.1"),
    "up": ("localcloud.deploy.cli", "emulated deploy of the Pulumi program"),
    "preview": ("localcloud.deploy.cli", "what `up` would do"),
    "destroy": ("localcloud.deploy.cli", "remove every resource of a stack"),
    "outputs": ("localcloud.deploy.cli", "print a stack's outputs"),
}


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] not in COMMANDS and args[0] not in ("-h", "--help"):
        print(
            f"error: unknown command {args[0]!r}; allowed: {', '.join(COMMANDS)}", file=sys.stderr
        )
        return 2
    if not args or args[0] in ("-h", "--help"):
        print("usage: python -m localcloud <command> [options]\n\ncommands:")
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
