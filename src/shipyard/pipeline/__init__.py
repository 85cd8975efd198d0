"""The pipeline: stages from shipyard.yaml, run in dependency order, skipped when unchanged."""
