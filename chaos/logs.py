"""What a run prints and what it files: progress, one line per problem and the summary go to
the console; the libraries under a run (moto's Step Functions parser logs every failed state it
runs as ERROR, by design of the experiments; botocore retries; werkzeug) go to `library.log` in
the run directory. Every command sets its logging up here."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

CONSOLE_FORMAT = "%(levelname)s %(name)s: %(message)s"
FILE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LIBRARY_LOGGERS = ("moto", "werkzeug", "botocore", "boto3", "urllib3", "pulumi")
LIBRARY_LOG = "library.log"  # its name in a run directory


def console_logging() -> None:
    """The project's own warnings and errors, one line each, on stderr."""
    logging.basicConfig(level=logging.WARNING, format=CONSOLE_FORMAT)


@contextlib.contextmanager
def library_log(run_dir: Path) -> Iterator[Path]:
    """Route the libraries' loggers to `run_dir/library.log` while the block runs (and back)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LIBRARY_LOG
    handler = logging.FileHandler(path, mode="a", encoding="utf-8")
    handler.setFormatter(logging.Formatter(FILE_FORMAT))
    saved = []
    for name in LIBRARY_LOGGERS:
        lib = logging.getLogger(name)
        saved.append((lib, lib.handlers, lib.propagate))
        lib.handlers = [handler]
        lib.propagate = False
    try:
        yield path
    finally:
        for lib, handlers, propagate in saved:
            lib.handlers, lib.propagate = handlers, propagate
        handler.close()
