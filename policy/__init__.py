"""failmodes failure-handling policy pack (pulumi-policy): invariants in policy.invariants."""
