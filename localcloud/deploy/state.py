"""The per-stack state file: `.localcloud/<stack>/state.json`, rewritten atomically after
every change so an interrupted `up` can be resumed or destroyed.

Shape (version 1):
    {"version": 1, "stack": str, "project": str, "endpoint": str, "next_seq": int,
     "resources": [{"key": urn, "type": str, "name": str, "custom": bool, "id": str,
                    "physical_name": str | None, "inputs": {...}, "outputs": {...},
                    "deps": [urn, ...], "seq": int, "protect": bool,
                    "retain_on_delete": bool}],
     "pending": [{"key": urn, "op": "create" | "update" | "delete", "physical_name": ...}],
     "outputs": {...}}  # the stack outputs, as `pulumi stack output --json` prints them
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .exceptions import DeployError

logger = logging.getLogger(__name__)

VERSION = 1


@dataclass
class Record:
    key: str
    type: str
    name: str
    custom: bool
    id: str = ""
    physical_name: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    deps: list[str] = field(default_factory=list)
    seq: int = 0
    protect: bool = False
    retain_on_delete: bool = False


@dataclass
class StackState:
    path: Path
    stack: str
    project: str = ""
    endpoint: str = ""
    next_seq: int = 1
    resources: dict[str, Record] = field(default_factory=dict)
    pending: list[dict[str, Any]] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, state_dir: Path, stack: str) -> StackState:
        path = Path(state_dir) / stack / "state.json"
        if not path.exists():
            return cls(path=path, stack=stack)
        try:
            doc = json.loads(path.read_text())
        except ValueError as exc:
            raise DeployError(
                f"{path}: not valid JSON ({exc}); move it away to start over"
            ) from exc
        if doc.get("version") != VERSION:
            raise DeployError(f"{path}: state version {doc.get('version')!r}, expected {VERSION}")
        state = cls(
            path=path,
            stack=stack,
            project=doc.get("project", ""),
            endpoint=doc.get("endpoint", ""),
            next_seq=int(doc.get("next_seq", 1)),
            pending=list(doc.get("pending", [])),
            outputs=dict(doc.get("outputs", {})),
        )
        for raw in doc.get("resources", []):
            record = Record(**raw)
            state.resources[record.key] = record
        return state

    def take_seq(self) -> int:
        seq = self.next_seq
        self.next_seq += 1
        return seq

    def put(self, record: Record) -> None:
        self.resources[record.key] = record
        self.save()

    def remove(self, key: str) -> None:
        self.resources.pop(key, None)
        self.save()

    def save(self) -> None:
        doc = {
            "version": VERSION,
            "stack": self.stack,
            "project": self.project,
            "endpoint": self.endpoint,
            "next_seq": self.next_seq,
            "resources": [asdict(r) for r in sorted(self.resources.values(), key=lambda r: r.seq)],
            "pending": self.pending,
            "outputs": self.outputs,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Write-then-rename: a crash mid-write leaves the previous complete file.
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".state.", suffix=".json")
        try:
            with os.fdopen(fd, "w") as fh:
                # No fsync: the rename protects against a crashed or interrupted process,
                # which is what resuming is for; power loss on a dev box is out of scope.
                json.dump(doc, fh, indent=1, default=str)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def deletion_order(self, keys: set[str] | None = None) -> list[Record]:
        """Records to delete, dependents before what they depend on (newest first on ties)."""
        pool = {k: r for k, r in self.resources.items() if keys is None or k in keys}
        dependents: dict[str, set[str]] = {k: set() for k in pool}
        for key, record in pool.items():
            for dep in record.deps:
                if dep in pool and dep != key:
                    dependents[dep].add(key)
        order: list[Record] = []
        done: set[str] = set()
        while len(done) < len(pool):
            ready = [r for k, r in pool.items() if k not in done and dependents[k] <= done]
            if not ready:  # a cycle cannot come from a Pulumi program; fall back to age
                ready = [r for k, r in pool.items() if k not in done]
            nxt = max(ready, key=lambda r: r.seq)
            order.append(nxt)
            done.add(nxt.key)
        return order
