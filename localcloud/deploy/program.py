"""Run a Pulumi program (`__main__.py`) in-process under the SDK's mock runtime.

Without the Pulumi CLI nobody applies `Pulumi.yaml` config defaults or reads
`Pulumi.<stack>.yaml`, so this module does what the CLI does before starting
the language host: builds the `project:key` config map (values are strings,
structured values JSON, as the CLI passes them), then runs the program and
resolves the root stack's exports.
"""
from __future__ import annotations

import json
import logging
import os
import runpy
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from .exceptions import ProgramError

logger = logging.getLogger(__name__)

# The Pulumi runtime keeps its settings in module globals: two programs must not
# run at the same time in one process.
_RUN_LOCK = threading.Lock()


def project_name(project_dir: Path) -> str:
    doc = _read_yaml(project_dir / "Pulumi.yaml")
    name = doc.get("name")
    if not isinstance(name, str) or not name:
        raise ProgramError(f"{project_dir / 'Pulumi.yaml'}: no project 'name'")
    return name


def load_config(
    project_dir: Path, stack: str, overrides: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """Config as the CLI hands it to a program: `{"project:key": "string value"}`.

    Order: Pulumi.yaml defaults, then Pulumi.<stack>.yaml, then `overrides`
    (keys with or without the `project:` namespace).
    """
    project = project_name(project_dir)
    schema = _read_yaml(project_dir / "Pulumi.yaml").get("config") or {}
    config: dict[str, str] = {}
    for key, spec in schema.items():
        full = key if ":" in key else f"{project}:{key}"
        if isinstance(spec, Mapping):
            if "default" in spec:
                config[full] = _config_string(spec["default"])
            elif "value" in spec:
                config[full] = _config_string(spec["value"])
        else:  # `key: value` shorthand
            config[full] = _config_string(spec)
    stack_file = project_dir / f"Pulumi.{stack}.yaml"
    if stack_file.exists():
        for key, value in (_read_yaml(stack_file).get("config") or {}).items():
            full = key if ":" in key else f"{project}:{key}"
            if isinstance(value, Mapping) and "secure" in value:
                raise ProgramError(f"{stack_file}: {key} is a secret; the emulated deploy has no "
                                   "secrets provider, set it in plain text for local stacks")
            config[full] = _config_string(value)
    for key, value in (overrides or {}).items():
        full = key if ":" in key else f"{project}:{key}"
        config[full] = _config_string(value)
    return config


def run_program(
    project_dir: Path,
    stack: str,
    mocks: Any,
    *,
    preview: bool = False,
    config_overrides: Mapping[str, Any] | None = None,
    monitor: Any = None,
) -> dict[str, Any]:
    """Run `project_dir/__main__.py` under `mocks`; return the resolved stack outputs."""
    import pulumi
    from pulumi.runtime import mocks as pulumi_mocks
    from pulumi.runtime import settings
    from pulumi.runtime.config import set_all_config
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    project_dir = Path(project_dir).resolve()
    main = project_dir / "__main__.py"
    if not main.exists():
        raise ProgramError(f"no Pulumi program at {main}")
    project = project_name(project_dir)
    config = load_config(project_dir, stack, config_overrides)
    with _RUN_LOCK:
        settings.ROOT.set(None)
        set_all_config(config, [])
        pulumi_mocks.set_mocks(mocks, project=project, stack=stack, preview=preview,
                               monitor=monitor)
        result: dict[str, Any] = {}

        def program() -> None:
            runpy.run_path(str(main), run_name="__main__")
            root = settings.get_root_resource()
            exports = dict(getattr(root, "outputs", {}) or {})
            result.update(_sync_await(pulumi.Output.from_input(exports).future()) or {})

        added = str(project_dir) not in sys.path
        if added:
            sys.path.insert(0, str(project_dir))
        cwd = os.getcwd()
        # Programs find their files (functions/, policy packs) relative to the project
        # directory, as under `pulumi up`, which runs them there.
        os.chdir(project_dir)
        try:
            _sync_await(run_pulumi_func(program))
        finally:
            os.chdir(cwd)
            if added:
                sys.path.remove(str(project_dir))
            settings.ROOT.set(None)
        return result


def _config_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(path.read_text())
    except FileNotFoundError as exc:
        raise ProgramError(f"{path} not found") from exc
    except yaml.YAMLError as exc:
        raise ProgramError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise ProgramError(f"{path}: expected a mapping at the top")
    return doc
