"""When a minted credential is replaced: the pure decision, case by case."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from binderhub_registry.errors import InvalidConfiguration
from binderhub_registry.rotation import RotationPolicy, parse_duration, should_rotate
from binderhub_registry.state import CREATED_AT, ROTATION_REVISION, ROTATION_TRIGGER

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def at(delta: timedelta) -> str:
    return (NOW - delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_every_upgrade_rotates_once_per_release_revision():
    policy = RotationPolicy("every-upgrade", revision="3")
    assert should_rotate(policy, {ROTATION_REVISION: "2"}, NOW)[0] is True
    assert should_rotate(policy, {ROTATION_REVISION: "3"}, NOW) == (False, "already rotated for release revision 3")


def test_every_upgrade_compares_revisions_as_release_numbers_not_text():
    """Any other revision rotates: 9 then 10 (as text "9" sorts after "10"), and a rollback's."""
    assert should_rotate(RotationPolicy("every-upgrade", revision="10"), {ROTATION_REVISION: "9"}, NOW)[0] is True
    assert should_rotate(RotationPolicy("every-upgrade", revision="100"), {ROTATION_REVISION: "99"}, NOW)[0] is True
    assert should_rotate(RotationPolicy("every-upgrade", revision="9"), {ROTATION_REVISION: "10"}, NOW)[0] is True


def test_every_upgrade_without_a_revision_never_rotates():
    """A plain CLI run (no chart) converges instead of rotating."""
    assert should_rotate(RotationPolicy("every-upgrade"), {ROTATION_REVISION: "7"}, NOW)[0] is False


def test_interval_rotates_only_credentials_older_than_the_interval():
    policy = RotationPolicy("interval", interval=timedelta(days=30), revision="9")
    assert should_rotate(policy, {CREATED_AT: at(timedelta(days=29))}, NOW)[0] is False
    rotate, why = should_rotate(policy, {CREATED_AT: at(timedelta(days=31))}, NOW)
    assert rotate is True and "31d old" in why


def test_interval_rotates_a_credential_exactly_one_interval_old_and_not_a_second_younger():
    """The boundary (chart/values.yaml, rotation.interval): a key exactly one interval old is due."""
    policy = RotationPolicy("interval", interval=timedelta(hours=720))
    assert should_rotate(policy, {CREATED_AT: at(timedelta(hours=720))}, NOW) == (
        True, "the credential is 30d old, rotation.interval is 30d")
    assert should_rotate(policy, {CREATED_AT: at(timedelta(hours=720) - timedelta(seconds=1))}, NOW)[0] is False


def test_interval_rotates_a_credential_of_unknown_age():
    assert should_rotate(RotationPolicy("interval"), {}, NOW)[0] is True


def test_never_keeps_the_credential_until_the_trigger_changes():
    assert should_rotate(RotationPolicy("never", revision="5"), {ROTATION_REVISION: "1"}, NOW)[0] is False
    forced = RotationPolicy("never", trigger="2026-11-26")
    assert should_rotate(forced, {}, NOW)[0] is True
    assert should_rotate(forced, {ROTATION_TRIGGER: "2026-11-26"}, NOW)[0] is False


@pytest.mark.parametrize(
    ("text", "expected"), [("720h", timedelta(hours=720)), ("30d", timedelta(days=30)), ("90m", timedelta(minutes=90))]
)
def test_intervals_are_numbers_with_a_unit(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["30", "1h30m", "720hours", "30 d", "-5d", "1.5h"])
def test_an_interval_not_one_number_with_one_unit_is_rejected_with_the_value_name(text):
    """Not read as far as it parses: 1h30m is not an hour."""
    with pytest.raises(InvalidConfiguration, match="rotation.interval must be a number with a unit"):
        parse_duration(text)


@pytest.mark.parametrize("interval", ["", None])
def test_an_empty_interval_is_the_documented_default_of_720h(interval):
    """`--set rotation.interval=` (or null) leaves values.yaml's 720h, not some other default."""
    policy = RotationPolicy.from_values({"rotation": {"policy": "interval", "interval": interval}})
    assert policy.interval == timedelta(hours=720)
