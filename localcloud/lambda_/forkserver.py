"""Parent side of the fork server (zygote.py): cold workers forked, not started.

A worker started as `python bootstrap.py` spends most of its cold start importing the
runtime's SDK (boto3 and botocore: ~0.2 s of CPU on this host, seconds when dozens start at
once). Forked from a process that has imported it once, a worker starts in milliseconds and
shares those pages. What the worker runs, and every AWS behaviour, is unchanged; only the
Python interpreter it runs in was started earlier (see the README's "not modelled" list for
what that shares: the string hash seed).

Linux only (pidfds); elsewhere, or with $LOCALCLOUD_WORKER_FORK=0, or when the fork server
has failed, workers are started as processes of their own (worker.start_process).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import select
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

from localcloud.errors import LocalCloudError

logger = logging.getLogger(__name__)

ZYGOTE = str(Path(__file__).with_name("zygote.py"))
MAX_MESSAGE_BYTES = 1 << 20  # zygote.py's own bound (a script: it imports nothing of ours)


class ForkServerFailed(LocalCloudError):
    """The fork server could not fork a worker; the runtime starts processes instead."""


def supported() -> bool:
    return sys.platform == "linux" and hasattr(os, "pidfd_open") and hasattr(socket, "send_fds")


def _readable(fd: int, timeout: float | None) -> bool:
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(None if timeout is None else timeout * 1000))


class ForkedProcess:
    """A worker forked by the zygote, with the part of Popen's interface Worker uses.

    Signalled and watched through a pidfd (race-free: it names this process only, even after
    its pid is reused); its exit status comes from the zygote, which is its parent.
    """

    def __init__(self, pid: int, pidfd: int, stdin: IO[str], stdout: IO[str], stderr: IO[str]):
        self.pid = pid
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.returncode: int | None = None
        self._pidfd: int | None = pidfd
        self._lock = threading.Lock()
        self._status_known = threading.Event()
        self._status: int | None = None

    def _ended(self, status: int | None) -> None:
        """From the fork server's reader: the zygote reaped this process (None: the zygote
        itself is gone, so the status cannot be known)."""
        self._status = status
        self._status_known.set()

    def _exited(self, timeout: float | None) -> bool:
        """Whether the process has ended, waiting up to `timeout` s (None: until it does).
        poll(2), not select(2): a cloud with a hundred workers holds fds past select's 1024."""
        with self._lock:
            if self._pidfd is None:
                return True
            if timeout == 0:
                return _readable(self._pidfd, 0)
            # A blocking wait must not hold the lock kill() takes: wait on a duplicate.
            pidfd = os.dup(self._pidfd)
        try:
            return _readable(pidfd, timeout)
        finally:
            os.close(pidfd)

    def poll(self) -> int | None:
        if self.returncode is not None:
            return self.returncode
        if not self._exited(0):
            return None
        # Exited; the zygote reaps it at once and reports (or has gone, which also answers).
        self._status_known.wait(timeout=5.0)
        with self._lock:
            if self.returncode is None:
                self.returncode = -1 if self._status is None else self._status
            if self._pidfd is not None:
                os.close(self._pidfd)
                self._pidfd = None
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None and not self._exited(timeout):
            raise subprocess.TimeoutExpired(f"worker {self.pid}", timeout or 0)
        code = self.poll()
        assert code is not None
        return code

    def kill(self) -> None:
        with self._lock:
            if self._pidfd is None:
                return
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)


class ForkServer:
    """One zygote process per runtime; spawn() forks a worker from it."""

    def __init__(self, spawn_timeout: float, env: dict[str, str]) -> None:
        """`env`: the zygote's own environment while it imports the SDK (no credentials, no
        endpoint: worker.host_environment()); a worker's is set in full after the fork."""
        self._spawn_timeout = spawn_timeout
        self._env = env
        self._lock = threading.Lock()  # one spawn at a time: replies come in request order
        self._replies: queue.Queue[dict[str, Any] | ForkedProcess | None] = queue.Queue()
        self._children: dict[int, ForkedProcess] = {}
        self._children_lock = threading.Lock()
        self._pending: list[tuple[IO[str], IO[str], IO[str]]] = []
        self._sock: socket.socket | None = None
        self._zygote: subprocess.Popen[bytes] | None = None
        self.broken = False

    def start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._zygote = subprocess.Popen(
                [sys.executable, "-u", ZYGOTE, str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                env=self._env,
                stdin=subprocess.DEVNULL,
            )
        finally:
            theirs.close()
        self._sock = ours
        threading.Thread(target=self._read, daemon=True, name="lambda-forkserver").start()

    def stop(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
        if self._zygote is not None:
            try:
                self._zygote.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._zygote.kill()
                self._zygote.wait(timeout=5)

    def _read(self) -> None:
        assert self._sock is not None
        try:
            while True:
                data, fds, _, _ = socket.recv_fds(self._sock, MAX_MESSAGE_BYTES, 1)
                if not data:
                    break
                message = json.loads(data)
                if "exit" in message:
                    with self._children_lock:
                        child = self._children.pop(message["exit"], None)
                    if child is not None:
                        child._ended(message["status"])
                elif "pid" in message:
                    self._replies.put(self._adopt(message["pid"], fds[0]))
                else:
                    self._replies.put(message)
        except OSError as exc:
            logger.debug("fork server connection ended: %s", exc)
        finally:
            self.broken = True
            self._replies.put(None)
            with self._children_lock:
                orphans = list(self._children.values())
                self._children.clear()
            for child in orphans:
                child._ended(None)

    def _adopt(self, pid: int, pidfd: int) -> ForkedProcess:
        stdin, stdout, stderr = self._pending.pop(0)
        child = ForkedProcess(pid, pidfd, stdin, stdout, stderr)
        with self._children_lock:
            self._children[pid] = child
        return child

    def spawn(self, cwd: Path, env: dict[str, str]) -> ForkedProcess:
        """Fork a worker: `python bootstrap.py` in `cwd` with exactly `env`, stdin, stdout and
        stderr pipes to this process (text, line-buffered, as worker.start_process gives)."""
        if self.broken or self._sock is None:
            raise ForkServerFailed("the fork server is not running")
        pipes = [os.pipe() for _ in range(3)]
        theirs = [pipes[0][0], pipes[1][1], pipes[2][1]]
        stdin = open(pipes[0][1], "w", encoding="utf-8", errors="replace", buffering=1)  # noqa: SIM115
        stdout = open(pipes[1][0], encoding="utf-8", errors="replace")  # noqa: SIM115
        stderr = open(pipes[2][0], encoding="utf-8", errors="replace")  # noqa: SIM115
        ours = (stdin, stdout, stderr)
        try:
            with self._lock:
                self._pending.append(ours)
                try:
                    data = json.dumps({"cwd": str(cwd), "env": env}).encode()
                    socket.send_fds(self._sock, [data], theirs)
                except OSError as exc:
                    self._pending.remove(ours)
                    self.broken = True
                    raise ForkServerFailed(f"the fork server is gone: {exc}") from exc
                try:
                    reply = self._replies.get(timeout=self._spawn_timeout)
                except queue.Empty:
                    # A late reply would answer the next request: stop using the server.
                    self.broken = True
                    raise ForkServerFailed(
                        f"the fork server did not answer in {self._spawn_timeout:g} s"
                    ) from None
                if not isinstance(reply, ForkedProcess):
                    if ours in self._pending:
                        self._pending.remove(ours)
                    why = "it has exited" if reply is None else reply.get("error")
                    raise ForkServerFailed(f"the fork server could not fork: {why}")
        except BaseException:
            for stream in ours:
                stream.close()
            raise
        finally:
            for fd in theirs:
                os.close(fd)
        return reply
