"""The local Lambda runtime's host limits: settings of this machine, not of AWS.

AWS runs up to 1,000 execution environments per account; here each is a Python
process on a small host, so three limits keep a burst from thrashing it. Each
can be raised (or lowered) by an environment variable read when the cloud
starts; a scenario that needs more concurrency than the defaults sets them and
records them in its report.
"""

from __future__ import annotations

import os

from localcloud.lambda_.forkserver import supported as fork_supported

# Worker processes alive at once before the least recently used idle one is retired.
MAX_WORKERS_ENV, DEFAULT_MAX_WORKERS = "LOCALCLOUD_MAX_WORKERS", 32
# Asynchronous-invocation attempts running at once (Lambda's internal queue's consumers).
# Like a concurrency limit on AWS, events past it wait in the queue and age there.
ASYNC_CONCURRENCY_ENV, DEFAULT_ASYNC_CONCURRENCY = "LOCALCLOUD_ASYNC_CONCURRENCY", 32
# Lambda's init phase limit is 10 s; a loaded 2-core host can take seconds to import
# Powertools and boto3 in a cold worker, which AWS's hosts do not.
INIT_TIMEOUT_ENV, DEFAULT_INIT_TIMEOUT = "LOCALCLOUD_INIT_TIMEOUT", 10.0
# Cold workers forked from a process that has imported the SDK (1), or each started as a
# process of its own (0). On by default where the host can (Linux: forkserver.supported()).
WORKER_FORK_ENV = "LOCALCLOUD_WORKER_FORK"


def env_count(name: str, default: int) -> int:
    """A whole number >= 1 from $name, else `default`; a bad value names the variable."""
    raw = os.environ.get(name, "")
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"${name}={raw!r} is not an integer") from None
    if value < 1:
        raise ValueError(f"${name}={raw!r} must be at least 1")
    return value


def env_seconds(name: str, default: float) -> float:
    """A number of seconds > 0 from $name, else `default`; a bad value names the variable."""
    raw = os.environ.get(name, "")
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"${name}={raw!r} is not a number of seconds") from None
    if not value > 0:
        raise ValueError(f"${name}={raw!r} must be more than 0 seconds")
    return value


def env_switch(name: str, default: bool) -> bool:
    """1 or 0 from $name, else `default`; a bad value names the variable and what is allowed."""
    raw = os.environ.get(name, "")
    if not raw:
        return default
    if raw not in ("0", "1"):
        raise ValueError(f"${name}={raw!r} must be 1 (on) or 0 (off)")
    return raw == "1"


def max_workers() -> int:
    return env_count(MAX_WORKERS_ENV, DEFAULT_MAX_WORKERS)


def async_concurrency() -> int:
    return env_count(ASYNC_CONCURRENCY_ENV, DEFAULT_ASYNC_CONCURRENCY)


def init_timeout_seconds() -> float:
    return env_seconds(INIT_TIMEOUT_ENV, DEFAULT_INIT_TIMEOUT)


def worker_fork() -> bool:
    """Whether cold workers are forked: $LOCALCLOUD_WORKER_FORK, where the host can."""
    return env_switch(WORKER_FORK_ENV, fork_supported()) and fork_supported()


def current() -> dict[str, float]:
    """The limits in force, by environment variable (for reports and /_localcloud/info)."""
    return {
        MAX_WORKERS_ENV: max_workers(),
        ASYNC_CONCURRENCY_ENV: async_concurrency(),
        INIT_TIMEOUT_ENV: init_timeout_seconds(),
        WORKER_FORK_ENV: int(worker_fork()),
    }
