"""Pulumi assets and archives -> the zip bytes Lambda receives, and a stable fingerprint.

The Pulumi engine does this when it serializes a Function's `code`; without the
engine it is hand-written here (no library turns pulumi.asset objects into a zip).
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .exceptions import DeployError

# Fixed timestamps and modes: the same files give the same bytes, so an unchanged
# program gives an unchanged fingerprint and `up` twice updates nothing.
_EPOCH = (1980, 1, 1, 0, 0, 0)
# Bytecode caches appear whenever tests import the handlers; they are not part of the code.
_SKIP_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}


def is_asset_or_archive(value: Any) -> bool:
    from pulumi.asset import Archive, Asset

    return isinstance(value, (Asset, Archive))


def zip_bytes(archive: Any, base_dir: Path) -> bytes:
    """A deterministic zip of `archive` (relative paths resolve against `base_dir`)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in sorted(_entries(archive, "", base_dir)):
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return buf.getvalue()


def fingerprint(value: Any, base_dir: Path) -> dict[str, str]:
    """What the state file keeps for an asset/archive input: a content hash, never the bytes."""
    from pulumi.asset import Asset

    if isinstance(value, Asset):
        data = dict(_entries(value, "asset", base_dir))["asset"]
    else:
        data = zip_bytes(value, base_dir)
    return {"sha256": hashlib.sha256(data).hexdigest()}


def _entries(item: Any, prefix: str, base_dir: Path) -> Iterator[tuple[str, bytes]]:
    from pulumi.asset import (
        AssetArchive,
        FileArchive,
        FileAsset,
        RemoteArchive,
        RemoteAsset,
        StringAsset,
    )

    if isinstance(item, StringAsset):
        yield prefix, item.text.encode()
    elif isinstance(item, FileAsset):
        yield prefix, _resolve(item.path, base_dir).read_bytes()
    elif isinstance(item, AssetArchive):
        for key, child in item.assets.items():
            yield from _entries(child, f"{prefix}/{key}" if prefix else key, base_dir)
    elif isinstance(item, FileArchive):
        path = _resolve(item.path, base_dir)
        if path.is_dir():
            for file in path.rglob("*"):
                rel = file.relative_to(path)
                if file.is_file() and not _SKIP_DIRS.intersection(rel.parts):
                    entry = f"{prefix}/{rel.as_posix()}" if prefix else rel.as_posix()
                    yield entry, file.read_bytes()
        elif zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                for name in zf.namelist():
                    if not name.endswith("/"):
                        yield (f"{prefix}/{name}" if prefix else name), zf.read(name)
        else:
            raise DeployError(f"FileArchive {item.path!r}: not a directory or a zip file")
    elif isinstance(item, (RemoteAsset, RemoteArchive)):
        raise DeployError(f"remote asset {item.uri!r}: the emulated deploy has no network access")
    else:
        raise DeployError(f"unsupported asset or archive {type(item).__name__}")


def _resolve(path: str, base_dir: Path) -> Path:
    p = Path(path)
    resolved = p if p.is_absolute() else base_dir / p
    if not resolved.exists():
        raise DeployError(f"asset path {path!r} does not exist (resolved to {resolved})")
    return resolved
