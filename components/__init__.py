"""failmodes: components."""
