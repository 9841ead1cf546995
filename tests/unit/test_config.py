import re
from pathlib import Path

import pytest

from pipeline.config import SETTINGS, ConfigError, Settings, parse_duration, settings_markdown

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("30m", 1_800_000),
        ("24h", 86_400_000),
        ("7d", 604_800_000),
        ("500ms", 500),
        ("90", 90_000),
        ("1.5h", 5_400_000),
    ],
)
def test_durations(text, ms):
    assert parse_duration(text) == ms


def test_defaults_match_the_settings_table():
    assert Settings.from_env({}) == Settings()
    parsed = Settings.from_env({s.env: s.default for s in SETTINGS if s.default is not None})
    assert parsed == Settings()


def test_bad_values_name_the_variable_and_what_is_expected():
    with pytest.raises(ConfigError, match=r"JOURNEY_SESSION_GAP: 'half an hour' is not a duration"):
        Settings.from_env({"JOURNEY_SESSION_GAP": "half an hour"})
    with pytest.raises(ConfigError, match="JOURNEY_LOG_LEVEL: 'loud' is not one of debug, info"):
        Settings.from_env({"JOURNEY_LOG_LEVEL": "loud"})


def test_unprefixed_variables_change_nothing():
    assert (
        Settings.from_env({"BROKER_URL": "kafka://elsewhere:9092", "WEB_PORT": "1"}) == Settings()
    )


def test_policy_takes_the_journey_timeouts():
    policy = Settings.from_env(
        {"JOURNEY_SESSION_GAP": "45m", "JOURNEY_ABANDON_AFTER": "1h"}
    ).policy()
    assert policy.sessions.gap_ms == 45 * 60_000 and policy.carts.abandon_after_ms == 3_600_000


def test_readme_settings_table_is_the_generated_one():
    text = README.read_text()
    assert settings_markdown() in text, "regenerate with: journey settings --markdown"
    documented = set(re.findall(r"`(JOURNEY_[A-Z_]+)`", text))
    assert {s.env for s in SETTINGS} <= documented


@pytest.mark.parametrize("window", ["7m", "30s", "5d"])
def test_an_analytics_window_that_does_not_tile_a_day_is_refused(window):
    with pytest.raises(ConfigError, match="JOURNEY_ANALYTICS_WINDOW"):
        Settings.from_env({"JOURNEY_ANALYTICS_WINDOW": window})


def test_analytics_off_leaves_the_core_without_facts():
    assert Settings.from_env({"JOURNEY_ANALYTICS": "off"}).policy().analytics is None
    assert Settings.from_env({}).policy().analytics is not None
