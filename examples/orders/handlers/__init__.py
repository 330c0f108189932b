"""The orders example's own handlers: business code only, each wearing `@chaos_handler`."""
