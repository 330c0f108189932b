"""A stack on the embedded local cloud for one session: start, emulated deploy, destroy, stop.

Nothing survives between runs of the local cloud, so the pytest plugin and the demo deploy
once per session through this context manager.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from chaos.errors import StackError
from chaos.stack import Stack
from components import outputs as keys

logger = logging.getLogger(__name__)

PROJECT_DIR = Path(__file__).resolve().parents[1]


def missing_parts() -> list[str]:
    """What the local path still lacks (empty when it can run), for clear skip reasons."""
    missing = []
    try:
        import localcloud

        if not callable(getattr(localcloud, "start", None)):
            missing.append("localcloud.start()")
    except ImportError as exc:
        missing.append(f"localcloud ({exc})")
    try:
        from localcloud.deploy import Engine  # noqa: F401
    except ImportError as exc:
        missing.append(f"localcloud.deploy.Engine ({exc})")
    return missing


@contextlib.contextmanager
def local_stack(
    name: str = "local",
    *,
    state_dir: Path | None = None,
    time_scale: float | None = None,
    timings: dict[str, float] | None = None,
) -> Iterator[tuple[Stack, Any]]:
    """Yield (Stack, LocalCloud) with the program deployed; always destroy and stop."""
    missing = missing_parts()
    if missing:
        raise StackError("the local cloud path is not available: missing " + ", ".join(missing))
    import localcloud
    from localcloud.deploy import Engine, project_policy

    timings = timings if timings is not None else {}
    t0 = time.monotonic()
    kwargs: dict[str, Any] = {} if time_scale is None else {"time_scale": time_scale}
    with localcloud.start(**kwargs) as cloud:
        timings["start_s"] = round(time.monotonic() - t0, 2)
        # The policy pack gates this deploy as it gates `localcloud up`: a program that
        # violates it is refused before anything is created.
        engine = Engine(
            PROJECT_DIR,
            name,
            cloud.endpoint,
            state_dir=state_dir,
            policy=project_policy(PROJECT_DIR),
        )
        try:
            t1 = time.monotonic()
            result = engine.up()
            timings["deploy_s"] = round(time.monotonic() - t1, 2)
            outputs = dict(result.outputs)
            stack = Stack(
                name=name,
                outputs=outputs,
                endpoint=cloud.endpoint,
                region=str(outputs.get(keys.REGION) or "us-east-1"),
                source=f"emulated deploy on {cloud.endpoint}",
            )
            yield stack, cloud
        finally:
            t2 = time.monotonic()
            try:
                engine.destroy()
            except Exception:  # the cloud stops next anyway; say so, do not mask the test result
                logger.exception("destroy of local stack %s failed", name)
            timings["destroy_s"] = round(time.monotonic() - t2, 2)
