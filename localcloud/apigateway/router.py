"""Route a request path to a REST API resource and method, as API Gateway does.

Precedence: a literal segment beats a {param}, which beats a greedy {proxy+};
a method beats ANY.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def _match(template: str, path: str) -> tuple[tuple[int, ...], dict[str, str]] | None:
    """(score, path parameters) when `path` fits resource path `template`, else None."""
    parts = [p for p in template.split("/") if p]
    segments = [s for s in path.split("/") if s]
    params: dict[str, str] = {}
    score: list[int] = []
    for i, part in enumerate(parts):
        if part.startswith("{") and part.endswith("+}"):
            rest = segments[i:]
            if not rest:
                return None
            params[part[1:-2]] = "/".join(rest)
            score.append(0)
            return tuple(score), params
        if i >= len(segments):
            return None
        if part.startswith("{") and part.endswith("}"):
            params[part[1:-1]] = segments[i]
            score.append(1)
        elif part == segments[i]:
            score.append(2)
        else:
            return None
    if len(parts) != len(segments):
        return None
    return tuple(score), params


def match_route(
    resources: Iterable[Any], path: str, method: str
) -> tuple[Any, Any, dict[str, str]] | None:
    """(resource, moto Method, path parameters) for `method path`, or None."""
    best: tuple[tuple[int, ...], Any, Any, dict[str, str]] | None = None
    for resource in resources:
        found = _match(resource.get_path(), path)
        if found is None:
            continue
        methods = resource.resource_methods
        chosen = methods.get(method.upper()) or methods.get("ANY")
        if chosen is None:
            continue
        score, params = found
        if best is None or score > best[0]:
            best = (score, resource, chosen, params)
    if best is None:
        return None
    return best[1], best[2], best[3]
