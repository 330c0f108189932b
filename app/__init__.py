"""The app layer: what uses chaos/, localcloud/ and components/ together.

The demo (`python -m app demo`, `make demo`), the one local stack session (app.session:
start the local cloud, deploy, Stack, destroy, stop), the pytest plugin's local stack
provider (app.pytest_plugin), and mutation testing (`python -m app mutate`). The scenarios
(scenarios/) belong to this layer too. Nothing below this layer imports it.
"""
