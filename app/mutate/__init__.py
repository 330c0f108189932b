"""Mutation testing of the chaos suite: known bugs put into the deployed program by Pulumi
transformations (no source edits); each must be caught by an experiment or refused."""

from __future__ import annotations

from app.mutate.mutants import Mutant, MutationError, enumerate_mutants, transformations
from app.mutate.operators import CATALOG, Operator, by_id

__all__ = [
    "CATALOG",
    "Mutant",
    "MutationError",
    "Operator",
    "by_id",
    "enumerate_mutants",
    "transformations",
]
