import re
from pathlib import Path

import pytest

from pipeline.config import (
    ENV_NAMES,
    ConfigError,
    JourneySettings,
    KafkaSettings,
    Settings,
    env_name,
)
from pipeline.durations import parse_duration
from pipeline.policy import journey_policy
from pipeline.settings_text import settings_markdown

from ..support import settings_from

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


def test_the_documented_defaults_read_back_to_the_defaults():
    assert settings_from({}) == Settings()
    written = {
        env_name(name): str(field.default)
        for name, field in Settings.model_fields.items()
        if field.default is not None
    }
    assert settings_from(written) == Settings()
    assert Settings().session_gap == 30 * 60_000 and Settings().kafka_fetch_max_wait == 10


def test_bad_values_name_the_variable_the_value_and_what_is_expected():
    with pytest.raises(ConfigError, match=r"JOURNEY_SESSION_GAP: 'half an hour' is not a duration"):
        settings_from({"JOURNEY_SESSION_GAP": "half an hour"})
    with pytest.raises(ConfigError, match="JOURNEY_LOG_LEVEL: 'loud': expected 'debug', 'info'"):
        settings_from({"JOURNEY_LOG_LEVEL": "loud"})
    with pytest.raises(ConfigError, match="JOURNEY_WEB_PORT: '99999': expected less than or"):
        settings_from({"JOURNEY_WEB_PORT": "99999"})
    with pytest.raises(ConfigError, match="JOURNEY_PARTITIONS: '0': expected greater than 0"):
        settings_from({"JOURNEY_PARTITIONS": "0"})


def test_a_command_validates_only_the_settings_it_uses():
    env = {"JOURNEY_WEB_PORT": "99999", "JOURNEY_SESSION_GAP": "45m"}
    assert settings_from(env, JourneySettings).session_gap == 45 * 60_000
    assert settings_from(env, KafkaSettings).partitions == 8
    with pytest.raises(ConfigError, match="JOURNEY_WEB_PORT"):
        settings_from(env, Settings)


def test_secrets_are_not_shown():
    settings = settings_from({"JOURNEY_API_TOKEN": "s3cret", "JOURNEY_KAFKA_SASL_PASSWORD": "pw"})
    assert "s3cret" not in repr(settings) and "pw'" not in repr(settings)
    assert settings.api_token is not None and settings.api_token.get_secret_value() == "s3cret"


def test_unprefixed_variables_change_nothing():
    assert settings_from({"BROKER_URL": "kafka://elsewhere:9092", "WEB_PORT": "1"}) == Settings()


def test_policy_takes_the_journey_timeouts():
    settings = settings_from({"JOURNEY_SESSION_GAP": "45m", "JOURNEY_ABANDON_AFTER": "1h"})
    policy = journey_policy(settings)
    assert policy.sessions.gap_ms == 45 * 60_000 and policy.carts.abandon_after_ms == 3_600_000


def test_readme_settings_table_is_the_generated_one():
    text = README.read_text()
    assert settings_markdown() in text, "regenerate with: journey settings --markdown"
    documented = set(re.findall(r"`(JOURNEY_[A-Z_]+)`", text))
    assert set(ENV_NAMES) <= documented


@pytest.mark.parametrize("window", ["7m", "30s", "5d"])
def test_an_analytics_window_that_does_not_tile_a_day_is_refused(window):
    with pytest.raises(ConfigError, match="JOURNEY_ANALYTICS_WINDOW"):
        settings_from({"JOURNEY_ANALYTICS_WINDOW": window})


def test_analytics_off_leaves_the_core_without_facts():
    assert journey_policy(settings_from({"JOURNEY_ANALYTICS": "off"})).analytics is None
    assert journey_policy(settings_from({})).analytics is not None
