"""pytest plugin for the chaos suite (registered through the pytest11 entry point)."""

from __future__ import annotations
