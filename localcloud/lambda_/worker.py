"""Parent side of a worker process: start it, hand it one event at a time, kill it on timeout.

Processes, not threads: a timed-out handler is killed (SIGKILL, as Lambda
does), which no thread can be. The worker runs with the local cloud's own
interpreter, so the third-party packages a layer would hold come from this
environment, while the function's code comes from its deployed zip.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from localcloud.errors import LocalCloudError
from localcloud.lambda_ import limits
from localcloud.lambda_.types import FunctionSpec

logger = logging.getLogger(__name__)

BOOTSTRAP = str(Path(__file__).with_name("bootstrap.py"))
STDERR_TAIL_LINES = 20
END_MARKER = "END RequestId: "
CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")

LogSink = Callable[[str], None]


def start_process(code_dir: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """A worker as a process of its own: `python bootstrap.py` (forkserver.ForkServer.spawn
    gives the same process forked from a zygote that has imported the SDK)."""
    return subprocess.Popen(
        [sys.executable, "-u", BOOTSTRAP],
        cwd=str(code_dir),
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
        bufsize=1,
    )


# How a worker process comes to be: start_process, or a fork server's spawn.
Spawn = Callable[[Path, dict[str, str]], Any]


class WorkerDied(LocalCloudError):
    """The worker process exited or stopped answering: a runtime (system) failure."""


class WorkerTimedOut(LocalCloudError):
    pass


class Worker:
    """One warm execution environment for one function configuration."""

    def __init__(
        self,
        spec: FunctionSpec,
        code_dir: Path,
        env: dict[str, str],
        log_sink: LogSink,
        spawn: Spawn | None = None,
    ):
        self.spec = spec
        self.fingerprint = spec.fingerprint
        self._log_sink = log_sink
        self._answers: queue.Queue[str | None] = queue.Queue()
        self._log_lock = threading.Condition()
        self._ended: set[str] = set()
        self._current_lines: list[str] = []
        self._logs_closed = False
        self.started_at = time.monotonic()
        self.invocations = 0
        self.idle_since = time.monotonic()
        self.proc = (spawn or start_process)(code_dir, env)
        self.pid = self.proc.pid
        threading.Thread(
            target=self._read_answers, daemon=True, name=f"lambda-answers-{self.pid}"
        ).start()
        threading.Thread(
            target=self._read_logs, daemon=True, name=f"lambda-logs-{self.pid}"
        ).start()
        # As on Lambda, an init that overruns 10 s is retried within the first invoke, so
        # the function's own timeout applies when it is longer.
        limit = max(limits.init_timeout_seconds(), float(spec.timeout))
        try:
            ready = self._next_answer(limit)
        except (WorkerTimedOut, WorkerDied) as exc:
            self.kill()
            what = (
                f"timed out after {limit:g} s (the init limit: ${limits.INIT_TIMEOUT_ENV} or "
                "Lambda's 10 s, or the function timeout when longer)"
                if isinstance(exc, WorkerTimedOut)
                else f"exited with code {self.proc.returncode} before reporting ready"
            )
            raise type(exc)(f"worker for {spec.name} {what}; {self._stderr_tail()}") from None
        if not json.loads(ready).get("ready"):
            self.kill()
            raise WorkerDied(f"worker for {spec.name} did not report ready: {ready!r}")

    def _read_answers(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._answers.put(line)
        self._answers.put(None)

    def _read_logs(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.rstrip("\n")
            with self._log_lock:
                self._current_lines.append(line)
                if line.startswith(END_MARKER):
                    self._ended.add(line[len(END_MARKER) :].strip())
                    self._log_lock.notify_all()
            try:
                self._log_sink(line)
            except Exception:
                logger.exception("log sink failed for %s", self.spec.name)
        with self._log_lock:
            self._logs_closed = True
            self._log_lock.notify_all()

    def _stderr_tail(self) -> str:
        """The last lines the (dead) worker wrote to stderr, once its pipe has drained."""
        with self._log_lock:
            self._log_lock.wait_for(lambda: self._logs_closed, timeout=2.0)
            lines = self._current_lines[-STDERR_TAIL_LINES:]
        if not lines:
            return "its stderr was empty"
        return "its stderr ended with:\n" + "\n".join(lines)

    def _next_answer(self, timeout: float) -> str:
        try:
            line = self._answers.get(timeout=timeout)
        except queue.Empty:
            raise WorkerTimedOut() from None
        if line is None:
            code = self.proc.wait(timeout=5)
            raise WorkerDied(f"worker for {self.spec.name} exited with status {code}")
        return line

    def alive(self) -> bool:
        return self.proc.poll() is None

    def invoke(self, request_id: str, payload: str, invoked_arn: str) -> tuple[dict[str, Any], str]:
        """Run one event; returns (answer, log lines of this invocation). Raises on timeout."""
        deadline = time.time() + self.spec.timeout
        with self._log_lock:
            self._current_lines = []
        request = {
            "request_id": request_id,
            "payload": payload,
            "invoked_function_arn": invoked_arn,
            "deadline_ms": deadline * 1000,
        }
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise WorkerDied(f"worker for {self.spec.name} is gone: {exc}") from exc
        self.invocations += 1
        answer = json.loads(self._next_answer(max(0.0, deadline - time.time())))
        # The answer can overtake the log pipe; wait (bounded) for this request's END line.
        with self._log_lock:
            self._log_lock.wait_for(
                lambda: request_id in self._ended or not self.alive(), timeout=1.0
            )
            self._ended.discard(request_id)
            tail = "\n".join(self._current_lines)
        return answer, tail

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            logger.error("worker %s for %s did not exit after SIGKILL", self.pid, self.spec.name)
        for stream in (self.proc.stdin,):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass


def host_environment() -> dict[str, str]:
    """What a worker's interpreter takes from the host (and the fork server's too, before
    any function's environment exists): the host's paths and locale, bytecode off, no
    buffering."""
    return {
        **{
            key: os.environ[key]
            for key in ("PATH", "LANG", "TZ", "TMPDIR", "SYSTEMROOT")
            if key in os.environ
        },
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
    }


def worker_environment(
    spec: FunctionSpec,
    endpoint: str,
    region: str,
    code_dir: Path,
    credentials: Mapping[str, str],
) -> dict[str, str]:
    """The environment Lambda gives a function, pointed at the local cloud. `credentials`:
    AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN of the function's
    execution role session, so the cloud judges its calls by the role's policies."""
    log_group = f"/aws/lambda/{spec.name}"
    env = {
        **host_environment(),
        "LAMBDA_TASK_ROOT": str(code_dir),
        "LAMBDA_RUNTIME_DIR": str(Path(BOOTSTRAP).parent),
        "_HANDLER": spec.handler,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime or 'python3.11'}",
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
        "AWS_LAMBDA_FUNCTION_TIMEOUT": str(spec.timeout),
        "AWS_LAMBDA_LOG_GROUP_NAME": log_group,
        "AWS_LAMBDA_LOG_STREAM_NAME": f"localcloud/[{spec.version}]{os.getpid()}",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_ENDPOINT_URL": endpoint,
        **{key: credentials[key] for key in CREDENTIAL_VARIABLES},
    }
    # The function's own variables win, as on Lambda (except the reserved ones above).
    reserved = {
        *CREDENTIAL_VARIABLES,
        "_HANDLER",
        "LAMBDA_TASK_ROOT",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    }
    env.update({k: v for k, v in spec.environment if k not in reserved})
    return env
