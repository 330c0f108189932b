"""The rollback journal: every change is written here, fsync'd, BEFORE it is made.

One JSON line per event: a "begin" entry carries the prior state of the target and the stack
identity it was made on (name, endpoint, account, region), an "undone" entry closes it.
Whatever killed the experiment (exception, Ctrl-C, kill -9), `python -m chaos rollback
--stack S` restores every begin without its undone, newest first. A begin whose change never
reached AWS is harmless: restoring the prior state is a no-op.

A kill -9 in the middle of a write can leave a partial last line. It is cut off (with a
warning naming the file) before the next append, so the journal never wedges on it.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from chaos.errors import JournalClosedError, JournalError
from chaos.types import ChangeKind, JournalEntry, StackIdentity

logger = logging.getLogger(__name__)

JOURNAL_DIR = ".chaos"
IDENTITY_FIELDS: tuple[str, ...] = ("name", "endpoint", "account", "region")


def same_identity(a: StackIdentity, b: StackIdentity) -> bool:
    """Both name the same stack in the same cloud; endpoints compared without a trailing '/'."""

    def norm(ident: StackIdentity) -> tuple[Any, ...]:
        return tuple(
            (str(ident.get(f) or "").rstrip("/") if f == "endpoint" else ident.get(f))
            for f in IDENTITY_FIELDS
        )

    return norm(a) == norm(b)


def describe_identity(ident: StackIdentity | None) -> str:
    if not ident:
        return "an unrecorded stack"
    return (
        f"stack {ident.get('name')!r} at {ident.get('endpoint') or 'AWS'}"
        f" (account {ident.get('account')}, region {ident.get('region')})"
    )


class Journal:
    def __init__(
        self, stack_name: str, root: Path | str = ".", identity: StackIdentity | None = None
    ) -> None:
        self.path = Path(root) / JOURNAL_DIR / stack_name / "journal.jsonl"
        # Stored with every begin so a rollback can tell the journal's stack from the one it
        # is pointed at (a dead local cloud's entries, another account).
        self.identity = identity
        self._lock = threading.Lock()
        self._closed: str | None = None

    def close(self, reason: str) -> None:
        """No further begin is accepted (the run is stopping); undone entries still are."""
        with self._lock:
            self._closed = reason

    def _repair_tail(self) -> None:
        """Cut a partial last line (a write torn by kill -9) so the next line starts clean."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return
        if size == 0:
            return
        with self.path.open("rb+") as fh:
            fh.seek(size - 1)
            if fh.read(1) == b"\n":
                return
            fh.seek(0)
            content = fh.read()
            keep = content.rfind(b"\n") + 1
            torn = content[keep:]
            fh.truncate(keep)
            fh.flush()
            os.fsync(fh.fileno())
        logger.warning(
            "%s: cut a torn last line (%d bytes, a write interrupted by a kill): %r",
            self.path,
            len(torn),
            torn[:80],
        )

    def _append(self, entry: JournalEntry) -> None:
        line = json.dumps(entry, sort_keys=True) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._repair_tail()
        # One write of a whole line with O_APPEND: concurrent writers never interleave lines.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)  # the point of a journal: the prior state survives kill -9
        finally:
            os.close(fd)

    def begin(
        self, kind: ChangeKind, target: str, prior: dict[str, Any], change: dict[str, Any]
    ) -> str:
        token = uuid.uuid4().hex
        entry: JournalEntry = {
            "op": "begin",
            "token": token,
            "at": time.time(),
            "kind": kind,
            "target": target,
            "prior": prior,
            "change": change,
        }
        if self.identity is not None:
            entry["stack"] = dict(self.identity)  # type: ignore[typeddict-item]
        with self._lock:
            if self._closed:
                raise JournalClosedError(
                    f"no new change on {target}: the run is stopping ({self._closed})"
                )
            self._append(entry)
        return token

    def undone(self, token: str, *, vanished: bool = False) -> None:
        entry: JournalEntry = {"op": "undone", "token": token, "at": time.time()}
        if vanished:
            entry["vanished"] = True
        with self._lock:
            self._append(entry)

    def entries(self) -> list[JournalEntry]:
        if not self.path.exists():
            return []
        raw = self.path.read_bytes()
        lines = raw.decode(errors="replace").split("\n")
        # Only a last line without its newline can be torn; every whole line must parse.
        torn = lines.pop() if lines else ""
        out: list[JournalEntry] = []
        for n, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                raise JournalError(
                    f"{self.path}: line {n} is not JSON: {line[:80]!r}; move the file aside"
                    " and check the stack by hand"
                ) from None
        if torn.strip():
            logger.warning("%s: ignoring a torn last line: %r", self.path, torn[:80])
        return out

    def pending(self) -> list[JournalEntry]:
        """Changes not yet undone, oldest first."""
        entries = self.entries()
        closed = {e["token"] for e in entries if e.get("op") == "undone"}
        return [e for e in entries if e.get("op") == "begin" and e["token"] not in closed]

    def _archive(self, label: str) -> Path:
        stamp = time.strftime("%Y%m%dT%H%M%S")
        dest = self.path.with_name(f"journal.{label}{stamp}.{os.getpid()}.jsonl")
        self.path.rename(dest)
        return dest

    def archive_if_settled(self) -> Path | None:
        """Move a fully undone journal aside so the next run starts with a short file."""
        with self._lock:
            if not self.path.exists() or self.pending():
                return None
            return self._archive("")

    def discard(self) -> tuple[list[JournalEntry], Path | None]:
        """Forget the pending entries (the stack is gone): the file is archived, not deleted."""
        with self._lock:
            if not self.path.exists():
                return [], None
            pending = self.pending()
            return pending, self._archive("discarded.")
