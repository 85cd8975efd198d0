"""The small languages of ``shipyard.yaml`` and the CLI, parsed with clear errors, and
their translations.

Alert rules (``error_rate > 2% for 5m``, ``alert_rules``) and their PromQL and
Prometheus rule files with promtool tests (``promql``, ``prometheus_rules``);
quality gates (``accuracy >= champion - 0.005``, ``quality_gates``); rollout steps
and analysis rules (``10,50,100``, ``p99_latency < 250ms``, ``rollout_steps``).
They depend on nothing but ``errors`` and ``units`` (and YAML to write rule files),
so the spec, the monitor, validation, the deploy planner and the Kubernetes chart
all import them from one layer down.
"""
