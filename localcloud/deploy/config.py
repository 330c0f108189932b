"""The Pulumi CLI's config loading, for a program run without the CLI.

What `pulumi up` does before it starts the program: read the project's config schema
(Pulumi.yaml, with defaults), then the stack's file (Pulumi.<stack>.yaml), then overrides
(`-c key=value`), check every value against its declared type and bounds, and hand the
program the result as strings. Also Pulumi's rule for a stack name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from localcloud.errors import LocalCloudError

__all__ = [
    "PROJECT_FILE",
    "STACK_NAME_RE",
    "STACK_NAME_RULE",
    "ProgramConfigError",
    "check_stack_name",
    "load_config",
    "stack_name_problem",
]


# A Pulumi program's directory is the one holding this file (its name and config schema).
PROJECT_FILE = "Pulumi.yaml"


class ProgramConfigError(LocalCloudError, ValueError):
    """The stack's config cannot be loaded: unknown stack file, undeclared key, wrong type."""


# Pulumi's rule for a stack name (letters, digits, '-', '_', '.'); no leading '.', so a name
# is never a path of its own ("..", ".hidden") under .localcloud/, .chaos/ or Pulumi.<s>.yaml.
STACK_NAME_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}$")
STACK_NAME_RULE = "letters, digits, '-', '_' and '.' (not first), at most 100 characters"


def check_stack_name(name: str) -> str:
    if not STACK_NAME_RE.match(name or ""):
        raise ProgramConfigError(f"invalid stack name {name!r}: allowed are {STACK_NAME_RULE}")
    return name


def stack_name_problem(args: list[str]) -> str | None:
    """What is wrong with the `--stack`/`-s` name in a command line, if anything: a command
    refuses a name that is a path ("../x") before it builds a path from it."""
    for i, arg in enumerate(args):
        name = None
        if arg in ("--stack", "-s") and i + 1 < len(args):
            name = args[i + 1]
        elif arg.startswith("--stack="):
            name = arg.split("=", 1)[1]
        if name is not None:
            try:
                check_stack_name(name)
            except ProgramConfigError as exc:
                return str(exc)
    return None


# A declared key's bounds are written in its Pulumi.yaml description, "(1-900)" or
# "(-1 infinite, or 0-10000)" or "(2-1000); 0 leaves it uncapped": Pulumi's config schema has
# no minimum/maximum keywords, so the description is the one place they are stated.
_RANGE_RE = re.compile(
    r"\((?P<pre>[^()]*?)(?P<low>-?\d+(?:\.\d+)?)-(?P<high>\d+(?:\.\d+)?)(?P<post>[^()]*)\)"
    r"(?P<after>[^.]*)"
)
_EXTRA_RE = re.compile(r"(-?\d+(?:\.\d+)?) (?:infinite|leaves|disables|means)")
_BOOLEANS = ("true", "false")


def _declared_bounds(spec: Mapping[str, Any]) -> tuple[float, float, tuple[float, ...]] | None:
    match = _RANGE_RE.search(str(spec.get("description", "")))
    if not match:
        return None
    extras = _EXTRA_RE.findall(match["pre"] + match["post"] + match["after"])
    return float(match["low"]), float(match["high"]), tuple(float(x) for x in extras)


def _known_regions() -> set[str]:
    import boto3

    session = boto3.session.Session()
    return {
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("lambda", partition_name=partition)
    }


def _check_value(key: str, spec: Mapping[str, Any], value: str, origin: str) -> None:
    """One declared key's final (string) value against its type and declared bounds."""
    kind = spec.get("type", "string")
    bounds = _declared_bounds(spec)

    def bad(allowed: str) -> ProgramConfigError:
        return ProgramConfigError(
            f"{origin}: config {key}={value!r} is invalid; allowed: {allowed} (Pulumi.yaml)"
        )

    if kind == "boolean":
        if value not in _BOOLEANS:
            raise bad("true or false")
        return
    if kind == "integer":
        if not re.fullmatch(r"-?\d+", value.strip()):
            raise bad("an integer" + (f" {_describe(bounds)}" if bounds else ""))
        number = float(value)
    elif kind == "string" and bounds is not None:
        try:
            number = float(value)
        except ValueError:
            raise bad(f"a number {_describe(bounds)}") from None
    else:
        return
    if bounds is not None:
        low, high, extras = bounds
        if not (low <= number <= high or number in extras):
            raise bad(_describe(bounds))


def _describe(bounds: tuple[float, float, tuple[float, ...]]) -> str:
    low, high, extras = bounds
    text = f"{low:g}..{high:g}"
    return text + (f" or {', '.join(f'{x:g}' for x in extras)}" if extras else "")


def _check_provider_value(key: str, value: str, origin: str) -> None:
    if key == "aws:region" and value not in _known_regions():
        raise ProgramConfigError(
            f"{origin}: config aws:region={value!r} is not an AWS region; allowed: a region"
            " botocore knows, e.g. us-east-1, eu-west-1"
        )


def _stringify(value: Any) -> str:
    # The language host hands the program every config value as a string;
    # structured values as JSON (Config.get_object parses them back).
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _check_type(key: str, declared: Mapping[str, Any], value: Any, origin: str) -> None:
    kind = declared.get("type", "string")
    ok = {
        "string": lambda v: isinstance(v, str | int | float) and not isinstance(v, bool),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "array": lambda v: isinstance(v, list),
    }.get(kind, lambda v: True)(value)
    if not ok:
        raise ProgramConfigError(
            f"{origin}: config {key!r}={value!r} is not of declared type {kind}"
        )


def load_config(
    stack: str, project_dir: Path, overrides: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Schema defaults from Pulumi.yaml, then Pulumi.<stack>.yaml, then overrides.

    Keys come back fully qualified ("failmodes:functionTimeout", "aws:region"), values as
    strings, as the real language host passes them. Keys may be given bare (project
    namespace) or qualified.
    """
    check_stack_name(stack)
    root = Path(project_dir)
    project_file = root / PROJECT_FILE
    stack_file = root / f"Pulumi.{stack}.yaml"
    if not project_file.is_file():
        raise ProgramConfigError(f"no project file {project_file}")
    if not stack_file.is_file():
        known = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in root.glob("Pulumi.*.yaml"))
        raise ProgramConfigError(
            f"unknown stack {stack!r}: {stack_file} does not exist (stacks: {known})"
        )
    project = yaml.safe_load(project_file.read_text()) or {}
    name = project.get("name")
    if not isinstance(name, str) or not name:
        raise ProgramConfigError(f"{project_file}: no project 'name'")
    schema: dict[str, Mapping[str, Any]] = {}
    for key, spec in (project.get("config") or {}).items():
        qualified = key if ":" in key else f"{name}:{key}"
        schema[qualified] = spec if isinstance(spec, Mapping) else {"default": spec}

    def qualify(key: str) -> str:
        return key if ":" in key else f"{name}:{key}"

    config: dict[str, str] = {}
    origins: dict[str, str] = {}
    for key, spec in schema.items():
        if "default" in spec:
            config[key] = _stringify(spec["default"])
            origins[key] = "Pulumi.yaml default"
    stack_config = (yaml.safe_load(stack_file.read_text()) or {}).get("config") or {}
    for raw_key, value in stack_config.items():
        key = qualify(raw_key)
        if key.startswith(f"{name}:"):
            if key not in schema:
                raise ProgramConfigError(
                    f"{stack_file.name}: config key {key!r} is not declared in Pulumi.yaml"
                )
            _check_type(key, schema[key], value, stack_file.name)
        config[key] = _stringify(value)
        origins[key] = stack_file.name
    for raw_key, value in (overrides or {}).items():
        key = qualify(raw_key)
        if key.startswith(f"{name}:") and key not in schema:
            allowed = ", ".join(sorted(k.split(":", 1)[1] for k in schema))
            raise ProgramConfigError(
                f"override: config key {key!r} is not declared in Pulumi.yaml; declared: {allowed}"
            )
        config[key] = _stringify(value)
        origins[key] = "override"
    # Every value checked here, before the program runs: a bad one must stop the deploy
    # before its first resource, not half way through it.
    for key, value in config.items():
        if key in schema:
            _check_value(key, schema[key], value, origins[key])
        else:
            _check_provider_value(key, value, origins.get(key, "config"))
    return config
