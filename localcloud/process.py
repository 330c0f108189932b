"""The local cloud in its own process (`python -m localcloud serve`), driven from this one.

moto keeps its backends per process, and the cloud's pollers and alarm evaluator act on
them: a cloud inside a test process shares state with every `mock_aws` test (whose exit
resets the backends), and two clouds cannot share one process. A cloud in its own process
shares nothing with its caller, whatever runs beside it: the test run's session cloud and
the chaos suite's local stack use it. `spawn()` starts one; `stop()` leaves nothing running.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import IO, Any

from localcloud.errors import LocalCloudError
from localcloud.server import client_on

# The folder holding the localcloud package: the serving process imports it from there.
PACKAGE_ROOT = Path(__file__).resolve().parents[1]
ENDPOINT_LINE = re.compile(r"^local cloud on (http://\S+)", re.MULTILINE)
START_TIMEOUT = 60.0  # seconds; a cold start (imports) takes 2-5 s on a loaded machine
STOP_TIMEOUT = 15.0  # seconds for SIGTERM (stops every service and worker) before SIGKILL


class CloudProcessError(LocalCloudError, RuntimeError):
    """The cloud process did not start, naming its log."""


class CloudProcess:
    """A local cloud in its own process: its endpoint, region, account, boto3 clients.
    `time_scale` None: the cloud's default (localcloud.clock)."""

    def __init__(self, *, time_scale: float | None, log_path: Path) -> None:
        self.time_scale = time_scale
        self.log_path = log_path
        self.endpoint = ""
        self.region = ""
        self.account_id = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> CloudProcess:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(PACKAGE_ROOT), env.get("PYTHONPATH", "")) if p
        )
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        scale = [] if self.time_scale is None else ["--time-scale", str(self.time_scale)]
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "localcloud", "serve", "--port", "0", *scale],
            cwd=PACKAGE_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,  # a file, not a pipe: nobody drains a pipe during the tests
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its Lambda workers go with it (see stop)
        )
        try:
            self.endpoint = self._wait(self._endpoint_named, "its endpoint line")
            info = self._wait(self._info, "its info route")
        except BaseException:
            self.stop()
            raise
        self.region, self.account_id = info["region"], info["account_id"]
        self.time_scale = float(info.get("time_scale", self.time_scale or 1.0))
        return self

    def _wait(self, condition: Any, what: str) -> Any:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            value = condition()
            if value:
                return value
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise CloudProcessError(
                    f"`python -m localcloud serve` exited with {self._proc.returncode} before "
                    f"{what}; its output: {self.log_path}\n{self._log_tail()}"
                )
            if time.monotonic() >= deadline:
                raise CloudProcessError(
                    f"`python -m localcloud serve` gave no {what} in {START_TIMEOUT} s; "
                    f"its output: {self.log_path}"
                )
            time.sleep(0.05)

    def _endpoint_named(self) -> str | None:
        found = ENDPOINT_LINE.search(self.log_path.read_text(errors="replace"))
        return found.group(1) if found else None

    def _info(self) -> dict[str, Any] | None:
        try:
            if self._get("/_localcloud/health").get("status") != "ok":
                return None
            return self.info()
        except OSError:
            return None

    def _log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def _get(self, path: str) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.endpoint}{path}", timeout=5) as answer:
            return json.loads(answer.read())

    def info(self) -> dict[str, Any]:
        """The cloud's `/_localcloud/info`: time scale, start-up times, limits."""
        return self._get("/_localcloud/info")

    def client(self, service_name: str, **config: Any) -> Any:
        """A boto3 client on this cloud (as LocalCloud.client)."""
        return client_on(self.endpoint, self.region, service_name, **config)

    def stop(self) -> None:
        """SIGTERM (the cloud stops its services and workers), SIGKILL to the whole process
        group after STOP_TIMEOUT; nothing of it is left running either way. Safe twice."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    pass
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # workers a stuck stop left behind
            except ProcessLookupError:
                pass
            proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None


def spawn(*, time_scale: float | None = None, log_path: Path) -> CloudProcess:
    """Start a local cloud in its own process (its output in `log_path`); stop() it."""
    return CloudProcess(time_scale=time_scale, log_path=log_path).start()
