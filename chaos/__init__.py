"""failmodes: chaos."""
