"""The Lambda runtime's fork server: one process that imports the runtime's SDK once and
forks a worker per cold start.

Started as a script (as bootstrap.py is, never as a module of localcloud). What it
imports before forking is what Lambda's Python runtime provides before any function code
runs: the standard library and boto3/botocore. No layer package (Powertools, ...) and no
function code: those read their environment at import (Powertools' user agent and cold
start flag do), and a function's modules must come from its own zip. A forked worker sets
its environment, working directory and standard streams, forgets the preloaded SDK if its
zip brings its own (the zip comes first on sys.path, as on Lambda), then runs
bootstrap.main() exactly as a worker started with `python bootstrap.py` does.

Protocol, over the SOCK_SEQPACKET socket whose fd is argv[1] (one JSON object a message):
  parent -> here  {"cwd", "env"} with three fds: the worker's stdin, stdout and stderr
  here -> parent  {"pid"} with one fd, a pidfd of the worker (the parent signals and watches
                  the process by it, never by a pid that could be reused), or {"error"}
                  {"exit": pid, "status": code} when a worker has ended (Popen's returncode)
When the parent goes away this process ends; its workers end at their stdin's EOF.

Hand-written: multiprocessing's forkserver runs its children inside multiprocessing
(pickled targets, the parent's __main__ imported again), which is not the clean process a
Lambda execution environment is.
"""

from __future__ import annotations

import atexit
import importlib
import json
import os
import select
import signal
import socket
import sys
import time
import traceback

import bootstrap  # this folder is sys.path[0]: the script's own directory

MAX_MESSAGE_BYTES = 1 << 20
# The standard library modules the runtime's SDK and a layer such as Powertools import (the
# slow ones: asyncio alone is ~20 ms); then the SDK itself, up to a client's machinery.
PRELOAD_STDLIB = (
    "asyncio",
    "concurrent.futures",
    "dataclasses",
    "decimal",
    "hashlib",
    "logging",
    "uuid",
)
PRELOAD_SDK = ("boto3", "boto3.session", "botocore.client", "botocore.session")


def _preload() -> set[str]:
    """Import the preload; returns the top-level names of the third-party packages it took
    in (boto3, botocore, urllib3, ...), which a worker whose zip has its own must forget."""
    for name in PRELOAD_STDLIB:
        importlib.import_module(name)
    before = set(sys.modules)
    for name in PRELOAD_SDK:
        importlib.import_module(name)
    tops = {name.partition(".")[0] for name in set(sys.modules) - before}
    return {top for top in tops if top not in sys.stdlib_module_names and not top.startswith("_")}


def _forget_if_shadowed(task_root: str, sdk_tops: set[str]) -> None:
    """Drop the whole preloaded SDK when the zip brings any of its packages: on Lambda the
    zip's copy is imported (the task root is first on sys.path), and the rest of the SDK
    then imports that copy too."""
    shadowed = any(
        os.path.exists(os.path.join(task_root, top))
        or os.path.exists(os.path.join(task_root, top + ".py"))
        for top in sdk_tops
    )
    if shadowed:
        for name in [n for n in sys.modules if n.partition(".")[0] in sdk_tops]:
            del sys.modules[name]


def _exit_code(code: object) -> int:
    """The status `sys.exit(code)` would end the interpreter with."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _run_worker(request: dict, fds: list[int], closing: list[int], sdk_tops: set[str]) -> None:
    """In the forked child: become the worker, run it, never return."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for fd in closing:
            os.close(fd)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        for fd in fds:
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        time.tzset()
        sys.argv = [bootstrap.__file__]
        _forget_if_shadowed(request["env"]["LAMBDA_TASK_ROOT"], sdk_tops)
        bootstrap.main()
        code = 0
    except SystemExit as exc:
        code = _exit_code(exc.code)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        # What the interpreter does on its way out, then leave without unwinding into the
        # fork server's loop.
        try:
            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _send(sock: socket.socket, message: dict, fds: list[int] | None = None) -> None:
    data = json.dumps(message).encode()
    if fds:
        socket.send_fds(sock, [data], fds)
    else:
        sock.send(data)


def _reap(sock: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _send(sock, {"exit": pid, "status": os.waitstatus_to_exitcode(status)})


def main() -> None:
    sock = socket.socket(fileno=int(sys.argv[1]))
    sdk_tops = _preload()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    # A Python-level handler, so the C handler writes each SIGCHLD into the wake-up pipe.
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_w)
    try:
        while True:
            ready, _, _ = select.select([sock, wake_r], [], [])
            if wake_r in ready:
                while True:
                    try:
                        if not os.read(wake_r, 512):
                            break
                    except BlockingIOError:
                        break
                _reap(sock)
            if sock not in ready:
                continue
            data, fds, _, _ = socket.recv_fds(sock, MAX_MESSAGE_BYTES, 3)
            if not data:
                return  # the local cloud has gone
            try:
                request = json.loads(data)
                if len(fds) != 3:
                    raise ValueError(f"expected 3 fds (stdin, stdout, stderr), got {len(fds)}")
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
            except Exception as exc:
                for fd in fds:
                    os.close(fd)
                _send(sock, {"error": f"{type(exc).__name__}: {exc}"})
                continue
            if pid == 0:
                _run_worker(request, fds, [sock.fileno(), wake_r, wake_w], sdk_tops)
            for fd in fds:
                os.close(fd)
            # Opened before this loop can reap the child, so it names that process only.
            pidfd = os.pidfd_open(pid)
            try:
                _send(sock, {"pid": pid}, [pidfd])
            finally:
                os.close(pidfd)
    except (BrokenPipeError, ConnectionResetError):
        return  # the local cloud has gone


if __name__ == "__main__":
    main()
