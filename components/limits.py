"""AWS figures the components build with and the policy pack judges by, and the type token of
the pattern components the pack recognises, stated once.

Plain constants, no imports: the pack (policy/) and through it chaos.preflight read them
without loading Pulumi.
"""

from __future__ import annotations

# AWS guidance for a queue a Lambda mapping reads: visibility 6x the function timeout, so the
# retries of a batch fit before SQS hands the message to another consumer.
VISIBILITY_FACTOR = 6
RECEIVE_COUNT_RANGE = (1, 1000)  # what SQS accepts as a redrive policy's maxReceiveCount

# The type token of every pattern component (`failmodes:index:<Name>`): the pack grants roles
# only to children of these (iam-grants-in-components).
COMPONENT_TYPE_PREFIX = "failmodes:index:"
