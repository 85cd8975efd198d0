"""Reaching the control plane: where a home's running one says it listens (``state``), its
REST client (``rest``), the store interfaces over that API for laptops and CI agents
(``remote_stores``), and which control plane a command talks to (``connection``).

Below every service, so the pipeline, the CLI and the home can call a control plane
without importing it.
"""
