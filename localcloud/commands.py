"""A `python -m <package> <command>` dispatcher: each command is a module with
`main(argv) -> int`. localcloud's commands use it, and so do the app layer's (`python -m app`)."""

from __future__ import annotations

import importlib
import sys

from localcloud.deploy.config import stack_name_problem

Commands = dict[str, tuple[str, str]]  # name -> (module, one-line summary)


def dispatch(prog: str, commands: Commands, argv: list[str] | None = None) -> int:
    """Run the named command; an unknown command or a bad `--stack` is one line and exit 2."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] not in commands and args[0] not in ("-h", "--help"):
        print(
            f"error: unknown command {args[0]!r}; allowed: {', '.join(commands)}", file=sys.stderr
        )
        return 2
    if not args or args[0] in ("-h", "--help"):
        print(f"usage: {prog} <command> [options]\n\ncommands:")
        for name, (_, summary) in commands.items():
            print(f"  {name:<8} {summary}")
        return 0
    bad = stack_name_problem(args[1:])
    if bad:
        print(f"error: {bad}", file=sys.stderr)
        return 2
    module = importlib.import_module(commands[args[0]][0])
    return int(module.main(args) or 0)
