"""The pipeline: stages from shipyard.yaml, run in dependency order, skipped when unchanged."""

# Where built-in stages write, relative to the project (kept here: light to import).
REPORT_DIR = ".shipyard/reports"
BUNDLE_DIR = ".shipyard/bundle"
VALIDATE_REPORT = f"{REPORT_DIR}/validate.json"
VALIDATE_OUTS = (
    VALIDATE_REPORT,
    f"{REPORT_DIR}/validate.md",
    f"{REPORT_DIR}/confusion.png",
    f"{REPORT_DIR}/comparison.png",
)
