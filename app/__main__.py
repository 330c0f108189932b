"""`python -m app <command>`: the app layer's commands, each a module with `main(argv) -> int`."""

from __future__ import annotations

from localcloud.commands import Commands, dispatch

COMMANDS: Commands = {
    "demo": ("app.demo", "the main job: local cloud, up, chaos suite, report, destroy"),
    "mutate": ("app.mutate.cli", "mutation testing: deploy known bugs, judge the chaos suite"),
}


def main(argv: list[str] | None = None) -> int:
    return dispatch("python -m app", COMMANDS, argv)


if __name__ == "__main__":
    raise SystemExit(main())
