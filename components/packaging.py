"""Function zips and the shared dependency layer.

Each function ships only its own package plus the shared modules
(`functions/__init__.py`, `functions/faults/`, `functions/common/`), never
`__pycache__`; a program's own handlers (a package of its own, wearing
`@chaos_handler`) ship with the same shared modules (program_code).
Third-party packages come from one LayerVersion built from
`functions/requirements.txt` for python3.11 on Lambda's platform. Building needs
pip and the network, so it happens only when the stack says so (`layerSource:
build`); the local cloud and unit tests use `layerSource: localcloud`, where the
layer archive holds just the requirements file and the local cloud provides the
same packages.
"""

from __future__ import annotations

import ast
import hashlib
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pulumi

from components.errors import ComponentError

__all__ = ["LAYER_SOURCES", "PackagingError", "function_code", "layer_archive", "program_code"]

logger = logging.getLogger(__name__)

LAYER_SOURCES = ("build", "localcloud")
SHARED_PACKAGES = ("faults", "common")
_SKIP_DIRS = {"__pycache__"}
_SKIP_SUFFIXES = {".pyc", ".pyo"}


class PackagingError(ComponentError, RuntimeError):
    """Function code or the layer cannot be packaged; the message names the path."""


def _files_under(root: Path) -> list[Path]:
    return sorted(
        path
        for path in root.rglob("*")
        if path.is_file()
        and not _SKIP_DIRS.intersection(path.relative_to(root).parts)
        and path.suffix not in _SKIP_SUFFIXES
    )


def _imported_packages(paths: list[Path]) -> set[str]:
    """Top-level `functions.<pkg>` packages that these modules import."""
    found: set[str] = set()
    for path in paths:
        if path.suffix != ".py":
            continue
        try:
            tree = ast.parse(path.read_text(), filename=str(path))
        except SyntaxError as exc:
            raise PackagingError(f"{path} is not valid Python: {exc}") from exc
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                parts = name.split(".")
                if len(parts) >= 2 and parts[0] == "functions":
                    found.add(parts[1])
    return found


def _library(functions_dir: Path, packages: list[str], what: str) -> dict[str, pulumi.Asset]:
    """`functions/__init__.py`, the shared packages, `packages` and every `functions.<pkg>`
    they import (followed transitively), with paths keeping the `functions/` prefix."""
    init = functions_dir / "__init__.py"
    if not init.is_file():
        raise PackagingError(f"{what}: {init} does not exist")
    included: dict[str, list[Path]] = {}
    pending = [*packages, *SHARED_PACKAGES]
    while pending:
        current = pending.pop()
        root = functions_dir / current
        if current in included or not root.is_dir():
            if current not in included and current not in SHARED_PACKAGES:
                raise PackagingError(f"{what} imports functions.{current}, which does not exist")
            continue
        included[current] = _files_under(root)
        pending.extend(_imported_packages(included[current]) - set(included))
    assets: dict[str, pulumi.Asset] = {"functions/__init__.py": pulumi.FileAsset(str(init))}
    for files in included.values():
        for path in files:
            relative = path.relative_to(functions_dir).as_posix()
            assets[f"functions/{relative}"] = pulumi.FileAsset(str(path))
    return assets


def function_code(functions_dir: Path, name: str) -> pulumi.AssetArchive:
    """The zip for `functions/<name>`: paths inside it keep the `functions/` prefix.

    Holds the function's package, the shared ones, and any other `functions.<pkg>` its
    code imports (followed transitively), so a handler that reuses a sibling's helper
    does not fail with "No module named" at its first invocation.
    """
    package = functions_dir / name
    if not (package / "handler.py").is_file():
        raise PackagingError(f"function {name!r}: {package / 'handler.py'} does not exist")
    return pulumi.AssetArchive(_library(functions_dir, [name], f"function {name!r}"))


def program_code(code_dir: Path, functions_dir: Path) -> pulumi.AssetArchive:
    """The zip of a program's own handlers, the package `code_dir` outside functions/ (e.g.
    examples/orders/handlers, handler paths `handlers.<module>.handler`): that package under
    its own name, plus the library its `@chaos_handler` comes from (functions/__init__.py,
    faults/, common/) and any other `functions.<pkg>` it imports."""
    if not (code_dir / "__init__.py").is_file():
        raise PackagingError(f"handlers {code_dir}: {code_dir / '__init__.py'} does not exist")
    files = _files_under(code_dir)
    assets: dict[str, pulumi.Asset] = {
        f"{code_dir.name}/{path.relative_to(code_dir).as_posix()}": pulumi.FileAsset(str(path))
        for path in files
    }
    library = _library(functions_dir, sorted(_imported_packages(files)), f"handlers {code_dir}")
    return pulumi.AssetArchive({**library, **assets})


def _pip_install(requirements: Path, target: Path) -> None:
    # Lambda runs Amazon Linux on x86_64: fetch wheels for that platform, never build
    # from source for the machine running `pulumi up`.
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--platform",
        "manylinux2014_x86_64",
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        "3.11",
        "--target",
        str(target),
        "-r",
        str(requirements),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PackagingError(
            f"pip could not build the layer from {requirements}: {result.stderr.strip()}"
        )


def build_layer(requirements: Path, build_dir: Path) -> Path:
    """Install the requirements into build_dir/<hash>/python, once per requirements content."""
    if not requirements.is_file():
        raise PackagingError(f"layer: {requirements} does not exist")
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]
    root = build_dir / digest
    done = root / ".complete"
    if done.is_file():
        return root
    if root.exists():
        shutil.rmtree(root)  # an interrupted build: start clean
    logger.info("building the dependency layer from %s into %s", requirements, root)
    _pip_install(requirements, root / "python")
    done.write_text(digest)
    return root


def _layer_from_build(requirements: Path, build_dir: Path) -> pulumi.Archive:
    root = build_layer(requirements, build_dir)
    # Lambda puts a layer under /opt; python3.11 looks in /opt/python.
    return pulumi.AssetArchive({"python": pulumi.FileArchive(str(root / "python"))})


def layer_archive(
    functions_dir: Path, source: str, build_dir: Path
) -> pulumi.Output[pulumi.Archive]:
    """The shared layer's content, resolved lazily so a missing requirements file only
    matters when a layer is actually deployed."""
    if source not in LAYER_SOURCES:
        raise PackagingError(
            f"layerSource={source!r} is invalid; allowed: {', '.join(LAYER_SOURCES)}"
        )
    requirements = functions_dir / "requirements.txt"
    if source == "localcloud":
        return pulumi.Output.from_input(
            pulumi.AssetArchive({"requirements.txt": pulumi.FileAsset(str(requirements))})
        )
    return pulumi.Output.from_input(str(requirements)).apply(
        lambda path: _layer_from_build(Path(path), build_dir)
    )
