"""The tags Shipyard itself sets on a model version (a user's own tags never start with
``shipyard.``)."""

from __future__ import annotations

GATES_TAG = "shipyard.gates"  # "passed" or "failed", set by validation
BUNDLE_TAG = "shipyard.bundle"  # the digest of the manifest of the version's bundle
REFERENCE_TAG = "shipyard.reference"  # the digest of the version's reference summary
