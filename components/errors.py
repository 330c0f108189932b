"""The components' one error root: a caller catches every refusal of the program's own code
(an Arg out of range, code that cannot be packaged) apart from Pulumi's and boto's errors."""

from __future__ import annotations

__all__ = ["ComponentError"]


class ComponentError(Exception):
    """Base of every error components/ defines."""
