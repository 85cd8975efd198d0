"""Monitoring: the alert rule vocabulary and its exports (Prometheus rules, unit tests)."""
