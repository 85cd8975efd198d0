"""Where deployments run: the contract the deploy engine drives, and the targets that keep it.

``contract`` (what the engine asks of a target and what a target reports),
``local`` (a ``shipyard serve`` process on this machine, started by
``local_process``); the Kubernetes target lives in ``shipyard.k8s``.
"""
