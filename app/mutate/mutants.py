"""Mutants: one operator applied to one matching resource, planned over the mock graph."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi

from app.mutate.graph import Graph, record
from app.mutate.operators import Operator, Params, Registry
from chaos.experiments.model import Experiment, strings
from localcloud.deploy.engine import normalize

__all__ = [
    "Mutant",
    "MutationError",
    "covering",
    "enumerate_mutants",
    "plan_waves",
    "transformations",
]

logger = logging.getLogger(__name__)


class MutationError(Exception):
    """An operator's transformation did not change the resource it was planned for."""


@dataclass
class Mutant:
    operator: Operator
    type: str
    name: str
    component: str
    patterns: tuple[str, ...]
    params: Params = field(default_factory=dict)
    # Filled by planning: the policy pack's new violations on this mutant's graph.
    violations: list[Any] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{self.operator.id}@{self.name}"

    def transformation(self, registry: Registry) -> Callable[[Any], Any]:
        def transform(args: Any) -> Any:
            if args.type_ != self.type or args.name != self.name:
                return None
            props = self.operator.mutate(dict(args.props), self.params, registry)
            return pulumi.ResourceTransformationResult(props, args.opts)

        return transform


def transformations(mutants: Iterable[Mutant]) -> list[Callable[[Any], Any]]:
    """The stack transformations that put `mutants` into the program (registry first)."""
    registry = Registry()
    return [registry, *(m.transformation(registry) for m in mutants)]


def enumerate_mutants(
    graph: Graph, operators: Sequence[Operator], *, every_instance: bool = False
) -> list[Mutant]:
    """One mutant per operator (placed where the fewest others are, to spread the run over
    patterns), or with `every_instance` one per (operator, component instance) it matches."""
    load: dict[str, int] = {}
    out: list[Mutant] = []
    for op in operators:
        by_component: dict[str, Mutant] = {}
        # By name: the SDK registers from a thread pool, so the graph's order varies by run.
        for node in sorted(graph, key=lambda n: (n.name, n.type)):
            params = op.params(graph, node)
            if params is None:
                continue
            top = graph.top_component(node)
            component = top.name if top is not None else ""
            if component in by_component:
                continue
            patterns = tuple(dict.fromkeys(graph.patterns_of(top) + op.also_patterns))
            by_component[component] = Mutant(op, node.type, node.name, component, patterns, params)
        candidates = list(by_component.values())
        if not candidates:
            logger.warning("operator %s matches nothing in this program", op.id)
            continue
        chosen = (
            candidates
            if every_instance
            else [min(candidates, key=lambda m: sum(load.get(p, 0) for p in m.patterns))]
        )
        for mutant in chosen:
            for p in mutant.patterns:
                load[p] = load.get(p, 0) + 1
        out += chosen
    return out


def covering(experiments: Iterable[Experiment], patterns: Iterable[str]) -> list[Experiment]:
    """Experiments that exercise any of `patterns`: their own pattern, or one whose steps
    read that pattern's outputs (the redrive experiment invokes `dlq_redriver.function`)."""
    wanted = set(patterns)
    out = []
    for exp in experiments:
        refs = {s.lstrip("@").split(".")[0] for s in strings(exp) if "." in s}
        if exp.pattern in wanted or refs & wanted:
            out.append(exp)
    return out


def plan_waves(
    mutants: Sequence[Mutant], experiments_of: Callable[[Mutant], list[Experiment]]
) -> list[list[Mutant]]:
    """Groups deployed together: no two share a pattern or an experiment, so each
    experiment sees the correct stack plus exactly one bug in what it exercises."""
    waves: list[tuple[set[str], set[str], list[Mutant]]] = []
    for mutant in mutants:
        pats = set(mutant.patterns) | {mutant.component}
        names = {e.name for e in experiments_of(mutant)}
        for used_pats, used_names, members in waves:
            if not (pats & used_pats) and not (names & used_names):
                members.append(mutant)
                used_pats |= pats
                used_names |= names
                break
        else:
            waves.append((pats, names, [mutant]))
    return [members for _, _, members in waves]


def plan_policy(
    mutants: Sequence[Mutant],
    baseline: Graph,
    check: Callable[[list[Any]], list[Any]],
    *,
    stack: str,
    project_dir: Path,
) -> None:
    """Record each mutant's graph: check that it changed its resource, and keep the policy
    pack's violations that the correct program does not have."""
    known = {str(v) for v in check(baseline.nodes)}
    for mutant in mutants:
        graph = record(stack, project_dir, transformations([mutant]))
        # Archives compare by content: each run of the program builds new archive objects.
        before = normalize(baseline.get(mutant.type, mutant.name).props, project_dir)
        after = normalize(graph.get(mutant.type, mutant.name).props, project_dir)
        mutant.changed = sorted(
            k for k in set(before) | set(after) if before.get(k) != after.get(k)
        )
        if not mutant.changed:
            raise MutationError(f"{mutant.id}: the transformation changed nothing")
        mutant.violations = [v for v in check(graph.nodes) if str(v) not in known]
