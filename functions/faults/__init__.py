"""Fault-injection middleware for every handler; variable names in settings.py."""
