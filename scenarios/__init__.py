"""The seed scenarios, replayed on the embedded local cloud and compressed in time.

`python -m scenarios observability` (EventBridge -> delivery -> slow API, with and
without flow control) and `python -m scenarios reliability` (SNS -> ride writer ->
DynamoDB at 1 WCU, then on demand). See README "Performance" for figures.
"""

from __future__ import annotations

__all__ = ["base", "observability", "reliability"]
