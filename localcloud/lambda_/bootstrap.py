"""The worker side of the Lambda runtime: one process runs one function's handler.

Started as a script (not a module of localcloud), with the function's code
directory as cwd and LAMBDA_TASK_ROOT, so the deployed zip is what is imported.
Protocol: one JSON request per line on stdin, one JSON answer per line on a
private copy of stdout; the handler's own stdout and stderr both go to the log
pipe (fd 2), as Lambda sends both to CloudWatch Logs.

Hand-written: AWS's runtime interface client speaks HTTP to the Runtime API,
which the local cloud does not emulate; this mirrors its error shapes
(Runtime.ImportModuleError, Runtime.HandlerNotFound, ...).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
from typing import Any


def _private_channels() -> tuple[Any, Any]:
    answers = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    requests = os.fdopen(os.dup(0), "r", encoding="utf-8")
    os.dup2(2, 1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    sys.stdout = open(1, "w", buffering=1, encoding="utf-8", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, encoding="utf-8", closefd=False)  # noqa: SIM115
    sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
    return requests, answers


def _code_first_on_path(task_root: str) -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if p and os.path.abspath(p) != here]
    sys.path.insert(0, task_root)
    # The editable install of this repository would otherwise serve packages the zip lacks.
    sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in repr(f)]


class LambdaContext:
    """The attributes of AWS's Python LambdaContext."""

    def __init__(self, request: dict[str, Any]) -> None:
        self.aws_request_id = request["request_id"]
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = os.environ["AWS_LAMBDA_FUNCTION_VERSION"]
        self.invoked_function_arn = request["invoked_function_arn"]
        self.memory_limit_in_mb = os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]
        self.log_group_name = os.environ["AWS_LAMBDA_LOG_GROUP_NAME"]
        self.log_stream_name = os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]
        self.identity = None
        self.client_context = None
        self._deadline_ms = request["deadline_ms"]

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self._deadline_ms - time.time() * 1000))


def _error(error_type: str, message: str, stack: list[str] | None = None) -> dict[str, Any]:
    return {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": "",
        "stackTrace": stack or [],
    }


def _load_handler(spec: str) -> tuple[Any, dict[str, Any] | None]:
    try:
        module_name, func_name = spec.rsplit(".", 1)
    except ValueError as exc:
        return None, _error("Runtime.MalformedHandlerName", f"Bad handler '{spec}': {exc}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        return None, _error(
            "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}"
        )
    except SyntaxError as exc:
        return None, _error(
            "Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {exc}"
        )
    except Exception as exc:
        stack = traceback.format_list(traceback.extract_tb(exc.__traceback__))
        return None, _error(type(exc).__name__, str(exc), stack)
    handler = getattr(module, func_name, None)
    if handler is None:
        return None, _error(
            "Runtime.HandlerNotFound", f"Handler '{func_name}' missing on module '{module_name}'"
        )
    return handler, None


def main() -> None:
    requests, answers = _private_channels()
    _code_first_on_path(os.environ["LAMBDA_TASK_ROOT"])
    handler, init_error = _load_handler(os.environ["_HANDLER"])
    answers.write(json.dumps({"ready": True}) + "\n")
    for line in requests:
        request = json.loads(line)
        request_id = request["request_id"]
        version = os.environ["AWS_LAMBDA_FUNCTION_VERSION"]
        print(f"START RequestId: {request_id} Version: {version}", file=sys.stderr)
        began = time.perf_counter()
        answer: dict[str, Any]
        if init_error is not None:
            answer = {"error": dict(init_error, requestId=request_id)}
            print(
                f"[ERROR] {init_error['errorType']}: {init_error['errorMessage']}", file=sys.stderr
            )
        else:
            try:
                result = handler(json.loads(request["payload"]), LambdaContext(request))
                try:
                    answer = {"payload": json.dumps(result)}
                except (TypeError, ValueError) as exc:
                    answer = {
                        "error": _error(
                            "Runtime.MarshalError", f"Unable to marshal response: {exc}"
                        )
                    }
            except Exception as exc:
                stack = traceback.format_list(traceback.extract_tb(exc.__traceback__)[1:])
                answer = {
                    "error": {
                        "errorMessage": str(exc),
                        "errorType": type(exc).__name__,
                        "requestId": request_id,
                        "stackTrace": stack,
                    }
                }
                print(f"[ERROR] {type(exc).__name__}: {exc}", file=sys.stderr)
                traceback.print_exc()
        duration = (time.perf_counter() - began) * 1000
        sys.stdout.flush()
        print(f"END RequestId: {request_id}", file=sys.stderr)
        print(
            f"REPORT RequestId: {request_id}\tDuration: {duration:.2f} ms\t"
            f"Memory Size: {os.environ['AWS_LAMBDA_FUNCTION_MEMORY_SIZE']} MB",
            file=sys.stderr,
        )
        sys.stderr.flush()
        answer["duration_ms"] = duration
        answers.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()
