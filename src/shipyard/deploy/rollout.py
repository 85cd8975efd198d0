"""The rollout state machine: its states, the transitions allowed between them, and why.

    loading ──▶ progressing ──▶ succeeded
       │          │   ▲  │
       │          ▼   │  └────▶ aborted   (analysis failed, `abort`, or resume policy)
       │         paused ──────▶ aborted
       └──────────▶ failed      (the new version did not load: no traffic moved)

``progressing`` waits for its step's interval, then analyses (if the step says
so) and moves on; ``paused`` waits for ``promote``. A finished rollout
(succeeded, aborted, failed) never changes again.
"""

from __future__ import annotations

from shipyard.errors import ConflictError

ACTIVE = ("loading", "progressing", "paused")
FINISHED = ("succeeded", "aborted", "failed")
STATES = ACTIVE + FINISHED

TRANSITIONS: dict[str, dict[str, str]] = {
    "loading": {
        "progressing": "the new version loaded in every worker",
        "paused": "loaded; the first step waits for promote",
        "succeeded": "loaded and switched in one step",
        "failed": "the new version failed to load; traffic never moved",
        "aborted": "aborted while loading",
    },
    "progressing": {
        "progressing": "the step passed; next step",
        "paused": "the step waits for promote (no interval, or an inconclusive analysis)",
        "succeeded": "the last step passed",
        "aborted": "analysis failed, or aborted by a person or the resume policy",
    },
    "paused": {
        "progressing": "promoted to the next step",
        "paused": "promoted to the next step, which waits for promote too",
        "succeeded": "promoted to all traffic",
        "aborted": "aborted by a person or the resume policy",
    },
}


def check_transition(state: str, to: str) -> str:
    """Why ``state`` may become ``to``; ``ConflictError`` if it may not."""
    reason = TRANSITIONS.get(state, {}).get(to)
    if reason is None:
        allowed = ", ".join(TRANSITIONS.get(state, {})) or "nothing (it has finished)"
        raise ConflictError(
            f"a rollout that is {state} cannot become {to}; it can become {allowed}"
        )
    return reason
