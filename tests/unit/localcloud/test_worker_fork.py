"""Cold workers forked from the fork server behave as workers started on their own.

Each test runs a real worker both ways (`process`: `python bootstrap.py`; `fork`: forked
by a zygote that has imported the SDK) and expects the same: what the handler sees (its
environment, working directory, modules), how it ends (exit status, a SIGKILL on timeout),
and, for the fork server only, that nothing of it is left behind (fds, the zygote).
"""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from localcloud.lambda_ import forkserver
from localcloud.lambda_.types import FunctionSpec
from localcloud.lambda_.worker import (
    Worker,
    WorkerDied,
    WorkerTimedOut,
    host_environment,
    start_process,
    worker_environment,
)

pytestmark = pytest.mark.skipif(
    not forkserver.supported(), reason="the fork server needs Linux pidfds"
)

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "AKIDWORKER",
    "AWS_SECRET_ACCESS_KEY": "secret",
    "AWS_SESSION_TOKEN": "token",
}

SEEN = """
import os, sys

PRELOADED = sorted(
    m for m in ("aws_lambda_powertools", "tenacity", "functions", "localcloud") if m in sys.modules
)

def handler(event, context):
    import boto3
    return {
        "env": dict(os.environ),
        "cwd": os.getcwd(),
        "argv0": os.path.basename(sys.argv[0]),
        "preloaded_at_init": PRELOADED,
        "boto3": boto3.__file__,
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "name": __name__,
    }
"""


@pytest.fixture(scope="module")
def forks() -> Iterator[forkserver.ForkServer]:
    server = forkserver.ForkServer(spawn_timeout=30.0, env=host_environment())
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["process", "fork"])
def spawn(request: pytest.FixtureRequest, forks: forkserver.ForkServer):
    return start_process if request.param == "process" else forks.spawn


def _spec(tmp_path: Path, source: str, *, timeout: int = 10, extra: dict | None = None):
    code = tmp_path / "code"
    code.mkdir(exist_ok=True)
    (code / "app.py").write_text(textwrap.dedent(source))
    for rel, text in (extra or {}).items():
        (code / rel).parent.mkdir(parents=True, exist_ok=True)
        (code / rel).write_text(text)
    spec = FunctionSpec(
        name="fn",
        arn="arn:aws:lambda:us-east-1:123456789012:function:fn",
        version="$LATEST",
        handler="app.handler",
        runtime="python3.11",
        timeout=timeout,
        memory_size=128,
        environment=(("MINE", "yes"),),
        code_sha256="x",
        reserved_concurrency=None,
        role="arn:aws:iam::123456789012:role/r",
    )
    env = worker_environment(spec, "http://127.0.0.1:1", "us-east-1", code, CREDENTIALS)
    return spec, code, env


def _invoke(worker: Worker, payload: object = None) -> dict:
    answer, _ = worker.invoke("req-1", json.dumps(payload), worker.spec.arn)
    return answer


def test_the_handler_sees_the_same_process_either_way(tmp_path: Path, spawn) -> None:
    spec, code, env = _spec(tmp_path, SEEN)
    env.pop("PATH")  # the zygote has one: a worker gets its own environment, not the zygote's
    worker = Worker(spec, code, env, lambda _line: None, spawn)
    try:
        seen = json.loads(_invoke(worker)["payload"])
    finally:
        worker.kill()
    assert seen["env"] == env  # exactly what the runtime gave: nothing of the zygote's own
    assert seen["cwd"] == str(code)
    assert seen["argv0"] == "bootstrap.py"
    assert seen["name"] == "app"
    assert seen["preloaded_at_init"] == []  # no layer and no project code imported before
    assert "site-packages" in seen["boto3"]
    if spawn is not start_process:
        assert seen["ppid"] not in (os.getpid(), os.getppid())  # forked by the zygote


def test_a_zip_that_brings_its_own_sdk_imports_it(tmp_path: Path, spawn) -> None:
    source = """
    def handler(event, context):
        import botocore
        return getattr(botocore, "MARK", "the runtime's botocore")
    """
    spec, code, env = _spec(
        tmp_path, source, extra={"botocore/__init__.py": "MARK = 'the zip botocore'\n"}
    )
    worker = Worker(spec, code, env, lambda _line: None, spawn)
    try:
        assert json.loads(_invoke(worker)["payload"]) == "the zip botocore"
    finally:
        worker.kill()


def test_an_exit_in_the_handler_is_the_worker_s_exit_status(tmp_path: Path, spawn) -> None:
    source = """
    import sys
    def handler(event, context):
        sys.exit(3)
    """
    spec, code, env = _spec(tmp_path, source)
    worker = Worker(spec, code, env, lambda _line: None, spawn)
    with pytest.raises(WorkerDied, match="exited with status 3"):
        _invoke(worker)
    assert worker.proc.poll() == 3
    assert not worker.alive()


def test_a_timed_out_worker_is_killed(tmp_path: Path, spawn) -> None:
    source = """
    import time
    def handler(event, context):
        time.sleep(60)
    """
    spec, code, env = _spec(tmp_path, source, timeout=1)
    worker = Worker(spec, code, env, lambda _line: None, spawn)
    with pytest.raises(WorkerTimedOut):
        _invoke(worker)
    worker.kill()
    assert worker.proc.wait(timeout=5) == -9
    assert not worker.alive()


def test_the_handler_s_logs_reach_the_sink(tmp_path: Path, spawn) -> None:
    source = """
    def handler(event, context):
        print("hello from the handler")
        return 1
    """
    spec, code, env = _spec(tmp_path, source)
    lines: list[str] = []
    worker = Worker(spec, code, env, lines.append, spawn)
    try:
        answer, tail = worker.invoke("req-9", "null", spec.arn)
    finally:
        worker.kill()
    assert json.loads(answer["payload"]) == 1
    assert "hello from the handler" in tail
    assert any(line.startswith("END RequestId: req-9") for line in lines)


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_forked_workers_leave_no_descriptor_behind(
    tmp_path: Path, forks: forkserver.ForkServer
) -> None:
    spec, code, env = _spec(tmp_path, "def handler(event, context):\n    return 1\n")
    Worker(spec, code, env, lambda _line: None, forks.spawn).kill()  # warm the fixture's state
    before = _open_fds()
    for _ in range(10):
        worker = Worker(spec, code, env, lambda _line: None, forks.spawn)
        _invoke(worker)
        worker.kill()
        assert worker.proc.poll() == -9
        for stream in (worker.proc.stdout, worker.proc.stderr):
            stream.close()
    assert _open_fds() <= before


def test_a_gone_fork_server_fails_the_spawn_in_one_line(tmp_path: Path) -> None:
    server = forkserver.ForkServer(spawn_timeout=30.0, env=host_environment())
    server.start()
    spec, code, env = _spec(tmp_path, "def handler(event, context):\n    return 1\n")
    assert server._zygote is not None
    server._zygote.kill()
    server._zygote.wait(timeout=5)
    with pytest.raises(forkserver.ForkServerFailed, match="fork server"):
        server.spawn(code, env)
    assert server.broken
    server.stop()


def test_stopping_the_fork_server_ends_the_zygote(tmp_path: Path) -> None:
    server = forkserver.ForkServer(spawn_timeout=30.0, env=host_environment())
    server.start()
    spec, code, env = _spec(tmp_path, "def handler(event, context):\n    return 1\n")
    worker = Worker(spec, code, env, lambda _line: None, server.spawn)
    worker.kill()
    server.stop()
    assert server._zygote is not None and server._zygote.returncode == 0


def test_a_forked_worker_is_watched_past_select_s_1024_fds(
    tmp_path: Path, forks: forkserver.ForkServer
) -> None:
    # A cloud running a hundred workers holds more than 1024 fds (seen at the seed's rates).
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if max(soft, hard) < 1200:
        pytest.skip(f"this host allows only {max(soft, hard)} open files")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        spec, code, env = _spec(tmp_path, "def handler(event, context):\n    return 1\n")
        worker = Worker(spec, code, env, lambda _line: None, forks.spawn)
        assert worker.alive()
        assert json.loads(_invoke(worker)["payload"]) == 1
        worker.kill()
        assert worker.proc.wait(timeout=5) == -9
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
