"""Reaches into moto's core and server (moto is pinned ==5.2.5), and which cloud the patches
of the other reach modules route to.

tests/local/test_moto_reach.py fails loudly when a moto upgrade moves one of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from moto.core import DEFAULT_ACCOUNT_ID

if TYPE_CHECKING:
    from localcloud.server import LocalCloud

__all__ = [
    "DEFAULT_ACCOUNT_ID",  # moto's account when a request names none
    "ORIGINALS",
    "activate",
    "active_cloud",
    "configure_moto_before_backends",
    "deactivate",
    "moto_version",
    "moto_wsgi_app",
    "request_handler_class",
]

_active: list[LocalCloud] = []
# moto's own functions that the patches replace, kept for the upgrade tests.
ORIGINALS: dict[str, Any] = {}


def moto_version() -> str:
    import moto

    return str(moto.__version__)


def request_handler_class() -> type:
    """moto's request handler: it keeps headers with underscores (S3 metadata) intact."""
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    return MotoRequestHandler


def moto_wsgi_app() -> Any:
    """moto's own server app: dispatches by the signed service name to each backend."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    _cache_moto_module_list()
    _cache_backend_for_host()
    _cache_method_names()
    _cache_possible_keys()
    return DomainDispatcherApplication(create_backend_app)


def _cache_moto_module_list() -> None:
    """moto's dispatcher asks `list_of_moto_modules()` on every request, which lists moto's
    package directory and stats each entry (about 1.2 ms, 40% of a SendMessage's time in
    the server). The directory does not change while the process runs: list it once."""
    from moto import backends

    if "list_of_moto_modules" in ORIGINALS:
        return
    ORIGINALS["list_of_moto_modules"] = original = backends.list_of_moto_modules
    modules = tuple(original())
    backends.list_of_moto_modules = lambda: modules  # type: ignore[assignment]


def configure_moto_before_backends() -> None:
    """Settings moto reads when it first builds a backend, so set them before any request.

    - IAM managed policies (arn:aws:iam::aws:policy/...) load, so roles can attach them.
    - Step Functions executes definitions (moto's parser backend) instead of only storing them.
    """
    from moto.core.config import default_user_config

    default_user_config.setdefault("iam", {})["load_aws_managed_policies"] = True
    default_user_config.setdefault("stepfunctions", {})["execute_state_machine"] = True


def active_cloud() -> LocalCloud | None:
    return _active[-1] if _active else None


def activate(cloud: LocalCloud) -> None:
    """Route moto-internal paths (Lambda invoke, SNS -> Lambda, Step Functions) to `cloud`.

    The patches that do so install on the first request for their service
    (localcloud.moto_reach.ensure_patched), not here.
    """
    _active.append(cloud)


def deactivate(cloud: LocalCloud) -> None:
    if cloud in _active:
        _active.remove(cloud)


def _cache_backend_for_host() -> None:
    """moto's dispatcher finds a request's backend by matching its host against every
    backend's URL patterns (about 190 regular expressions for an SQS request, twice: once
    for 127.0.0.1:<port>, once for the host inferred from the signature). The answer for a
    host never changes: remember it."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    if "get_backend_for_host" in ORIGINALS:
        return
    ORIGINALS["get_backend_for_host"] = original = DomainDispatcherApplication.get_backend_for_host
    known: dict[str | None, Any] = {}

    def get_backend_for_host(self: Any, host: str | None) -> Any:
        try:
            return known[host]
        except KeyError:
            backend = known[host] = original(self, host)
            return backend

    DomainDispatcherApplication.get_backend_for_host = get_backend_for_host  # type: ignore[method-assign]


def _cache_method_names() -> None:
    """moto's responses look the action up among `inspect.getmembers(cls)` on every request
    (0.2 ms). Remember the names per class, refreshed when the class's own namespace changes
    size (a patch that adds an action)."""
    from moto.core import responses

    if "method_names_from_class" in ORIGINALS:
        return
    ORIGINALS["method_names_from_class"] = original = responses.method_names_from_class
    known: dict[type, tuple[int, frozenset[str]]] = {}

    def method_names_from_class(clazz: type) -> frozenset[str]:
        size = len(vars(clazz))
        cached = known.get(clazz)
        if cached is None or cached[0] != size:
            cached = known[clazz] = (size, frozenset(original(clazz)))
        return cached[1]

    responses.method_names_from_class = method_names_from_class  # type: ignore[assignment]


# Bound on the remembered key lists; moto's service models are loaded once per process, so
# the real number is small (13 for SQS's ReceiveMessage answer), the bound only a guard.
POSSIBLE_KEYS_CACHE_SIZE = 4096


def _cache_possible_keys() -> None:
    """moto's response serializer asks, for every member of every structure it writes, which
    attribute names to look for (five alias providers, each built per call, plus
    `xform_name`): 40% of serializing a 10-message ReceiveMessage answer. The names depend
    only on the object's type and `Meta`, the member's shape (botocore's shapes are built once
    per cached service model and hash by identity), its parent and key, and the providers:
    remember them per that tuple."""
    from moto.core.serialize import XFormedAttributePicker

    if "XFormedAttributePicker.get_possible_keys" in ORIGINALS:
        return
    original = XFormedAttributePicker.get_possible_keys
    ORIGINALS["XFormedAttributePicker.get_possible_keys"] = original
    known: dict[tuple[Any, ...], tuple[str, ...]] = {}

    def get_possible_keys(self: Any, context: Any) -> Any:
        obj = context.obj
        key = (
            type(obj),
            getattr(obj, "Meta", None),
            context.shape,
            getattr(context.shape, "parent", None),  # moto sets it before each member
            context.key,
            tuple(self.alias_providers),
        )
        try:
            return known[key]
        except KeyError:
            pass
        except TypeError:  # an unhashable Meta: ask moto every time
            return original(self, context)
        if len(known) >= POSSIBLE_KEYS_CACHE_SIZE:
            known.clear()
        names = known[key] = tuple(original(self, context))
        return names

    XFormedAttributePicker.get_possible_keys = get_possible_keys  # type: ignore[method-assign]
