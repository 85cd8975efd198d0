"""The pipeline: stages from shipyard.yaml, run in dependency order, skipped when unchanged."""

# Where built-in stages write, relative to the project (kept here: light to import).
REPORT_DIR = ".shipyard/reports"
BUNDLE_DIR = ".shipyard/bundle"
VALIDATE_REPORT = f"{REPORT_DIR}/validate.json"
TRAIN_HISTORY = f"{REPORT_DIR}/train-history.jsonl"  # metrics logged per step (epoch)
REFERENCE_SUMMARY = f"{REPORT_DIR}/reference.json"  # the inputs' bins (monitor.reference)
VALIDATE_OUTS = (
    VALIDATE_REPORT,
    REFERENCE_SUMMARY,
    f"{REPORT_DIR}/validate.md",
    f"{REPORT_DIR}/confusion.png",
    f"{REPORT_DIR}/comparison.png",
)
