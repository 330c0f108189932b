"""The rollback journal: every change is written here, fsync'd, BEFORE it is made.

One JSON line per event: a "begin" entry carries the prior state of the target, an
"undone" entry closes it. Whatever killed the experiment (exception, Ctrl-C, kill -9),
`python -m chaos rollback --stack S` restores every begin without its undone, newest first.
A begin whose change never reached AWS is harmless: restoring the prior state is a no-op.
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

from chaos.errors import JournalError
from chaos.types import ChangeKind, JournalEntry

logger = logging.getLogger(__name__)

JOURNAL_DIR = ".chaos"


class Journal:
    def __init__(self, stack_name: str, root: Path | str = ".") -> None:
        self.path = Path(root) / JOURNAL_DIR / stack_name / "journal.jsonl"
        self._lock = threading.Lock()

    def _append(self, entry: JournalEntry) -> None:
        line = json.dumps(entry, sort_keys=True) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # O_APPEND keeps concurrent writers (threads, another process) from interleaving lines.
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
        self._append(
            {
                "op": "begin",
                "token": token,
                "at": time.time(),
                "kind": kind,
                "target": target,
                "prior": prior,
                "change": change,
            }
        )
        return token

    def undone(self, token: str) -> None:
        self._append({"op": "undone", "token": token, "at": time.time()})

    def entries(self) -> list[JournalEntry]:
        if not self.path.exists():
            return []
        out: list[JournalEntry] = []
        for n, line in enumerate(self.path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                # A torn last line is what kill -9 mid-write leaves; anything earlier is corruption.
                if n == len(self.path.read_text().splitlines()):
                    logger.warning("%s: ignoring torn last line %d", self.path, n)
                    continue
                raise JournalError(f"{self.path}: line {n} is not JSON: {line[:80]!r}") from None
        return out

    def pending(self) -> list[JournalEntry]:
        """Changes not yet undone, oldest first."""
        entries = self.entries()
        closed = {e["token"] for e in entries if e.get("op") == "undone"}
        return [e for e in entries if e.get("op") == "begin" and e["token"] not in closed]

    def archive_if_settled(self) -> Path | None:
        """Move a fully undone journal aside so the next run starts with a short file."""
        if not self.path.exists() or self.pending():
            return None
        dest = self.path.with_name(f"journal.{time.strftime('%Y%m%dT%H%M%S')}.{os.getpid()}.jsonl")
        self.path.rename(dest)
        return dest
