"""The experiment catalogue: one declaration per failure-handling pattern."""

from __future__ import annotations

from chaos.experiments.catalog import CATALOG, by_name, ci_subset
from chaos.experiments.model import Experiment, per_subscriber

__all__ = ["CATALOG", "Experiment", "by_name", "ci_subset", "per_subscriber"]
