"""failmodes: functions."""
