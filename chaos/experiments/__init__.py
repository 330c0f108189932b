"""The experiment catalogue: one template per component type and failure; made per instance."""

from __future__ import annotations

from chaos.experiments.catalog import CATALOG, by_name, ci_subset, select, templates_named
from chaos.experiments.model import Experiment, per_instance, per_subscriber

__all__ = [
    "CATALOG",
    "Experiment",
    "by_name",
    "ci_subset",
    "per_instance",
    "per_subscriber",
    "select",
    "templates_named",
]
