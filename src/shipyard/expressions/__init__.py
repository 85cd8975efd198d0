"""The small languages of ``shipyard.yaml`` and the CLI, parsed with clear errors.

Alert rules (``error_rate > 2% for 5m``), quality gates (``accuracy >= champion -
0.005``) and rollout steps and analysis rules (``10,50,100``, ``p99_latency <
250ms``). They depend on nothing but ``errors`` and ``units``, so the spec, the
monitor, validation and the deploy planner all import them from one layer down.
"""
