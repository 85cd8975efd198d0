"""Aliases: moves, history, rollback as an undo stack, and their audit events."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import write_model_file
from shipyard.errors import ConflictError, InvalidInputError, NotFoundError, ShipyardError
from shipyard.registry import RegisterOptions, register
from shipyard.registry.aliases import delete_alias, holders, rollback_alias, set_alias
from shipyard.store import Stores


@pytest.fixture
def digits(stores: Stores, tmp_path: Path) -> Stores:
    """A model with versions 1 to 4."""
    for i in range(4):
        path = write_model_file(tmp_path / f"m{i}.skops", f"model {i}".encode())
        register(stores, path, "digits", RegisterOptions(flavor="sklearn", infer_signature=False))
    return stores


def test_history_records_every_move_with_when_from_to_who_why(digits: Stores) -> None:
    set_alias(digits, "digits", "production", 1, reason="first release", actor="alice")
    set_alias(digits, "digits", "production", 3, reason="better accuracy", actor="bob")
    history = digits.metadata.alias_history("digits", "production")
    assert [(m.from_version, m.to_version, m.actor, m.reason, m.action) for m in history] == [
        (None, 1, "alice", "first release", "set"),
        (1, 3, "bob", "better accuracy", "set"),
    ]
    assert history[0].at < history[1].at
    assert digits.metadata.resolve_alias("digits", "production") == 3


def test_rollback_walks_back_through_previous_holders(digits: Stores) -> None:
    for version in (1, 2, 3):
        set_alias(digits, "digits", "production", version)
    assert rollback_alias(digits, "digits", "production", reason="bad v3").to_version == 2
    assert rollback_alias(digits, "digits", "production").to_version == 1
    assert digits.metadata.resolve_alias("digits", "production") == 1
    with pytest.raises(ShipyardError, match="no previous version"):
        rollback_alias(digits, "digits", "production")
    actions = [m.action for m in digits.metadata.alias_history("digits", "production")]
    assert actions == ["set", "set", "set", "rollback", "rollback"]


def test_rollback_is_recorded_as_an_event_with_reason(digits: Stores) -> None:
    set_alias(digits, "digits", "production", 1)
    set_alias(digits, "digits", "production", 2)
    rollback_alias(digits, "digits", "production", reason="latency regression", actor="oncall")
    last = digits.metadata.list_events(model="digits")[-1]
    assert (last.kind, last.actor, last.version) == ("alias.rollback", "oncall", 1)
    assert last.data == {
        "alias": "production",
        "from_version": 2,
        "to_version": 1,
        "reason": "latency regression",
    }


def test_setting_the_current_holder_again_changes_nothing(digits: Stores) -> None:
    set_alias(digits, "digits", "production", 2)
    events = len(digits.metadata.list_events())
    assert set_alias(digits, "digits", "production", 2) is None
    assert len(digits.metadata.list_events()) == events
    assert len(digits.metadata.alias_history("digits", "production")) == 1


def test_alias_cannot_point_at_a_missing_version(digits: Stores) -> None:
    with pytest.raises(NotFoundError, match="no version 99"):
        set_alias(digits, "digits", "production", 99)
    with pytest.raises(NotFoundError, match="unknown model"):
        set_alias(digits, "nope", "production", 1)
    assert digits.metadata.alias_history("digits") == []


def test_alias_names_that_look_like_versions_are_refused(digits: Stores) -> None:
    with pytest.raises(InvalidInputError, match="invalid alias"):
        set_alias(digits, "digits", "3", 1)


def test_a_move_decided_on_a_stale_history_is_refused_even_after_an_aba_change(
    digits: Stores,
) -> None:
    set_alias(digits, "digits", "production", 1)
    set_alias(digits, "digits", "production", 2)
    seen = digits.metadata.alias_history("digits", "production")[-1].id
    # someone else moves it 2 -> 3 -> 2: the holder is the same, the history is not
    set_alias(digits, "digits", "production", 3)
    set_alias(digits, "digits", "production", 2)
    with pytest.raises(ConflictError, match="moved while"):
        digits.metadata.move_alias(
            "digits",
            "production",
            1,
            action="rollback",
            actor="t",
            reason="",
            expect_last_move=seen,
        )
    assert digits.metadata.resolve_alias("digits", "production") == 2
    assert rollback_alias(digits, "digits", "production").to_version == 3


def test_delete_keeps_history_and_clears_rollback_stack(digits: Stores) -> None:
    set_alias(digits, "digits", "staging", 1)
    set_alias(digits, "digits", "staging", 2)
    delete_alias(digits, "digits", "staging", reason="retired")
    with pytest.raises(NotFoundError):
        digits.metadata.resolve_alias("digits", "staging")
    history = digits.metadata.alias_history("digits", "staging")
    assert [m.action for m in history] == ["set", "set", "delete"]
    assert holders(history) == []


def test_aliases_show_on_the_model_summary(digits: Stores) -> None:
    set_alias(digits, "digits", "production", 2)
    set_alias(digits, "digits", "candidate", 4)
    assert digits.metadata.get_model("digits").aliases == {"candidate": 4, "production": 2}
