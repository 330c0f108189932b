"""Code shared by the handlers: events, ledger, idempotency, clients, observability.

Import the submodules directly (functions.common.ledger, ...): this package
imports nothing itself, so functions.faults can use functions.common.events
without an import cycle.
"""
