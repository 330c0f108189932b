"""`python -m localcloud <command>`: each command is a module with `main(argv) -> int`."""

from __future__ import annotations

from localcloud.commands import Commands, dispatch

COMMANDS: Commands = {
    "serve": ("localcloud.server", "run the local cloud endpoint on 127.0.0.1"),
    "up": ("localcloud.deploy.cli", "emulated deploy of the Pulumi program"),
    "preview": ("localcloud.deploy.cli", "what `up` would do"),
    "destroy": ("localcloud.deploy.cli", "remove every resource of a stack"),
    "outputs": ("localcloud.deploy.cli", "print a stack's outputs"),
}


def main(argv: list[str] | None = None) -> int:
    return dispatch("python -m localcloud", COMMANDS, argv)


if __name__ == "__main__":
    raise SystemExit(main())
