"""Run a Pulumi program (`__main__.py`) in-process under the SDK's mock runtime.

There is no Pulumi CLI here, so this module does what the CLI's language host would: load
the project's config (config.load_config: Pulumi.yaml defaults, then Pulumi.<stack>.yaml,
then overrides), configure the runtime, run the program in its project directory and
resolve the stack outputs. One runner for every caller: the emulated deploy (with its own
Mocks and monitor), the policy check before a deploy and the mutation operators' graph
(RecordingMocks), and the unit tests of the program (run_program) and of single
components (run_in_stack).
"""

from __future__ import annotations

import asyncio
import logging
import os
import runpy
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from .config import PROJECT_FILE, ProgramConfigError, load_config
from .exceptions import ProgramError
from .mocks import PlacementMonitor

__all__ = ["project_name", "run_in_stack", "run_program"]

logger = logging.getLogger(__name__)

# The Pulumi runtime keeps its settings in module globals: two programs must not run at
# the same time in one process. The one lock of every run (run_program, run_in_stack).
_RUN_LOCK = threading.Lock()


def project_name(project_dir: Path) -> str:
    doc = _read_yaml(project_dir / PROJECT_FILE)
    name = doc.get("name")
    if not isinstance(name, str) or not name:
        raise ProgramError(f"{project_dir / PROJECT_FILE}: no project 'name'")
    return name


def run_program(
    project_dir: Path,
    stack: str,
    mocks: Any,
    *,
    preview: bool = False,
    config_overrides: Mapping[str, Any] | None = None,
    monitor: Any = None,
    transformations: Sequence[Callable[[Any], Any]] = (),
) -> dict[str, Any]:
    """Run `project_dir/__main__.py` under `mocks`; return the resolved stack outputs.

    `transformations` are registered as stack transformations before the program runs,
    as `pulumi.runtime.register_stack_transformation` in the program's first line would:
    each sees every resource (type, name, Python input names) and may change its inputs.
    `monitor` (default: the SDK's, telling RecordingMocks each resource's URN and parent)
    is the deploy's, which reads each registration while it is being created.

    Safe to call many times in one process (one run at a time): every call resets the
    runtime settings, config and root stack.
    """
    project_dir = Path(project_dir).resolve()
    main = project_dir / "__main__.py"
    if not main.exists():
        raise ProgramError(f"no Pulumi program at {main}")
    project = project_name(project_dir)
    try:
        config = load_config(stack, project_dir, config_overrides)
    except ProgramConfigError as exc:
        raise ProgramError(str(exc)) from exc

    def program() -> dict[str, Any]:
        import pulumi
        from pulumi.runtime import settings

        for transformation in transformations:
            pulumi.runtime.register_stack_transformation(transformation)
        runpy.run_path(str(main), run_name="__main__")
        root = settings.get_root_resource()
        outputs = dict(getattr(root, "outputs", {}) or {})
        note = getattr(mocks, "note_stack_outputs", None)
        if note is not None:
            note(_serialized(outputs))
        return outputs

    added = str(project_dir) not in sys.path
    if added:
        sys.path.insert(0, str(project_dir))
    cwd = os.getcwd()
    # Programs find their files (functions/, policy packs) relative to the project
    # directory, as under `pulumi up`, which runs them there.
    os.chdir(project_dir)
    try:
        return (
            _run(
                program,
                mocks,
                project=project,
                stack=stack,
                preview=preview,
                config=config,
                monitor=monitor,
            )
            or {}
        )
    finally:
        os.chdir(cwd)
        if added:
            sys.path.remove(str(project_dir))


def run_in_stack(
    build: Callable[[], Any],
    mocks: Any,
    *,
    project: str = "project",
    stack: str = "test",
    preview: bool = False,
) -> Any:
    """Run `build()` (which creates resources) in a fresh root stack under `mocks`, with no
    config; return what it returned, with every Output in it resolved. For component tests."""
    return _run(
        build, mocks, project=project, stack=stack, preview=preview, config={}, monitor=None
    )


def _run(
    work: Callable[[], Any],
    mocks: Any,
    *,
    project: str,
    stack: str,
    preview: bool,
    config: Mapping[str, str],
    monitor: Any,
) -> Any:
    """`work()` inside a fresh root stack under `mocks`; its result with every Output resolved.
    Raises what the run raised."""
    import pulumi
    from pulumi.runtime import mocks as pulumi_mocks
    from pulumi.runtime import settings
    from pulumi.runtime.config import set_all_config
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    result: dict[str, Any] = {}
    failure: list[BaseException] = []

    def body() -> None:
        value = work()
        result["value"] = _sync_await(pulumi.Output.from_input(value).future())

    def in_own_loop() -> None:
        # A fresh thread and event loop per run: when a run fails, the SDK leaves
        # registrations pending on its loop and thread pool; they must not run (or raise)
        # inside the next run, which gets a loop of its own.
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            # The SDK's set of outstanding output tasks is shared by every thread: tasks
            # a failed run left behind belong to a dead loop and would never finish.
            with settings.SETTINGS.lock:
                settings.SETTINGS.outputs.clear()
            settings.ROOT.set(None)
            set_all_config(dict(config), [])
            pulumi_mocks.set_mocks(
                mocks,
                project=project,
                stack=stack,
                preview=preview,
                monitor=monitor or PlacementMonitor(mocks),
            )
            _sync_await(run_pulumi_func(body))
            loop.close()
        except BaseException as exc:  # handed to the caller's thread below
            failure.append(exc)
            # The abandoned registrations fail too ("stopped at an earlier error"); their
            # futures are never awaited, which asyncio would print at garbage collection.
            loop.set_exception_handler(
                lambda _loop, context: logger.debug(
                    "after a failed run: %s", context.get("message")
                )
            )

    with _RUN_LOCK:
        runner = threading.Thread(target=in_own_loop, name=f"pulumi-{stack}", daemon=True)
        runner.start()
        runner.join()
    if failure:
        raise failure[0]
    return result.get("value")


def _serialized(outputs: dict[str, Any]) -> dict[str, Any]:
    """The stack outputs as the SDK hands them to the engine: each secret still in its
    envelope, where it is (the engine stores those encrypted; the mocks resolve them)."""
    from google.protobuf import json_format
    from pulumi.runtime import rpc
    from pulumi.runtime.sync_await import _sync_await

    return json_format.MessageToDict(_sync_await(rpc.serialize_properties(outputs, {})))


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


# What a policy pack's checks are called with (the recorded registrations, each with
# .type, .name and .props in the provider's camelCase) and return (objects with .policy,
# .resource and a `[rule] resource: message` str).
PolicyCheck = Callable[[list[Any]], list[Any]]
# Where `pulumi up --policy-pack` finds this project's pack, and so the emulated deploy.
DEFAULT_POLICY_PACK = "policy"


def project_policy(project_dir: Path) -> PolicyCheck | None:
    """The project's own pack (`<project>/policy`), as every deploy path runs it by default
    (`localcloud up`, the demo, the local stack of the chaos suite, the scenarios); None
    when the project has none."""
    pack = Path(project_dir) / DEFAULT_POLICY_PACK
    return load_policy_pack(pack) if (pack / "PulumiPolicy.yaml").is_file() else None


def load_policy_pack(pack_dir: Path) -> PolicyCheck:
    """The mandatory checks of the policy pack at `pack_dir`, as plain functions.

    `pulumi up --policy-pack DIR` runs the pack's policies through pulumi-policy, which
    needs the Pulumi CLI. The emulated deploy runs the same checks without it: a pack
    here is a Python package (beside PulumiPolicy.yaml) whose `invariants` module has
    `check_all(resources)`, the functions the pack registers as its mandatory policies.
    """
    import importlib.util

    pack_dir = Path(pack_dir).resolve()
    if not (pack_dir / "PulumiPolicy.yaml").is_file():
        raise ProgramError(f"{pack_dir} is not a policy pack (no PulumiPolicy.yaml)")
    if not (pack_dir / "invariants.py").is_file():
        raise ProgramError(
            f"{pack_dir / 'invariants.py'} not found: the emulated deploy runs "
            "the pack's `invariants.check_all`"
        )
    # Loaded from its file under a name of its own: the project's `policy` package may be
    # imported already, and another project's pack must not be answered from that cache.
    name = f"_policy_pack_{abs(hash(str(pack_dir)))}"
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, pack_dir / "invariants.py")
        if spec is None or spec.loader is None:
            raise ProgramError(f"{pack_dir / 'invariants.py'} cannot be imported")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses resolve their module while it executes
        spec.loader.exec_module(module)
    check = getattr(module, "check_all", None)
    if not callable(check):
        raise ProgramError(f"{pack_dir / 'invariants.py'} has no check_all(resources)")
    return check
