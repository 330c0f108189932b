"""failmodes: localcloud."""
