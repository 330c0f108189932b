"""A function's DeadLetterConfig, which moto 5.2.5 drops: kept here, keyed by function name.

CreateFunction / UpdateFunctionConfiguration requests are read before moto
answers; GetFunction / GetFunctionConfiguration / CreateFunction /
UpdateFunctionConfiguration answers get the field back, as AWS returns it.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from typing import TYPE_CHECKING
from urllib.parse import unquote

from werkzeug.wrappers import Request, Response

if TYPE_CHECKING:
    from localcloud.server import LocalCloud

logger = logging.getLogger(__name__)

_FUNCTION_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)(?P<rest>/configuration)?/?$")
_CREATE_PATH = re.compile(r"^/2015-03-31/functions/?$")


def function_name_of(name_or_arn: str) -> str:
    """'my-fn', 'arn:aws:lambda:r:a:function:my-fn[:q]' or 'a:function:my-fn' -> 'my-fn'."""
    parts = unquote(name_or_arn).split(":")
    if "function" in parts:
        return parts[parts.index("function") + 1]
    return parts[0]


class DeadLetterConfigs:
    def __init__(self, cloud: LocalCloud) -> None:
        self.cloud = cloud
        self._targets: dict[str, str] = {}
        self._lock = threading.Lock()

    def target_arn(self, function_name: str) -> str | None:
        with self._lock:
            return self._targets.get(function_name)

    def install(self) -> None:
        self.cloud.add_observer(self._observe)

    def _observe(self, request: Request, response: Response) -> None:
        path = request.path
        if _CREATE_PATH.match(path) and request.method == "POST":
            if response.status_code < 300:
                body = _json(request.get_data())
                self._remember(str(body.get("FunctionName", "")), body)
                self._amend(response)
            return
        match = _FUNCTION_PATH.match(path)
        if not match:
            return
        name = function_name_of(match["name"])
        if request.method == "DELETE" and not match["rest"] and response.status_code < 300:
            with self._lock:
                self._targets.pop(name, None)
        elif request.method == "PUT" and match["rest"] and response.status_code < 300:
            self._remember(name, _json(request.get_data()))
            self._amend(response)
        elif request.method == "GET" and response.status_code < 300:
            self._amend(response)

    def _remember(self, name: str, body: dict) -> None:
        if not name or "DeadLetterConfig" not in body:
            return
        target = (body.get("DeadLetterConfig") or {}).get("TargetArn") or ""
        with self._lock:
            if target:
                self._targets[function_name_of(name)] = target
            else:  # AWS removes the DLQ when TargetArn is set empty
                self._targets.pop(function_name_of(name), None)

    def _amend(self, response: Response) -> None:
        doc = _json(response.get_data())
        config = doc.get("Configuration", doc)
        name = config.get("FunctionName") if isinstance(config, dict) else None
        target = self.target_arn(name) if name else None
        if not target:
            return
        config["DeadLetterConfig"] = {"TargetArn": target}
        response.set_data(json.dumps(doc))


def _json(data: bytes) -> dict:
    try:
        doc = json.loads(data or b"{}")
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}
