"""The Kafka clients' connection options: OAUTHBEARER tokens from a file, read afresh.

The embedded broker has no OAUTHBEARER, so the clients' own SASL code is the check:
kafka-python's mechanism builds its first message from our provider's token."""

import asyncio

import pytest
from kafka.net.sasl.oauth import SaslMechanismOAuth

from pipeline.config import KafkaSettings
from pipeline.kafka.connection import aiokafka_options, client_options

from ..support import settings_from


def oauth_settings(token_file) -> KafkaSettings:
    return settings_from(
        {
            "JOURNEY_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "JOURNEY_KAFKA_SASL_MECHANISM": "OAUTHBEARER",
            "JOURNEY_KAFKA_SASL_OAUTH_TOKEN_FILE": str(token_file),
        },
        KafkaSettings,
    )


def test_an_oauthbearer_token_is_read_from_its_file_at_every_authentication(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("first.jwt.token\n")
    options = client_options(oauth_settings(token_file))
    assert options["sasl_mechanism"] == "OAUTHBEARER"
    mechanism = SaslMechanismOAuth(**options)
    assert b"auth=Bearer first.jwt.token\x01" in mechanism.auth_bytes()
    token_file.write_text("renewed.jwt.token")
    assert b"auth=Bearer renewed.jwt.token\x01" in SaslMechanismOAuth(**options).auth_bytes()


def test_the_worker_client_awaits_the_same_token(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("worker.jwt.token")
    provider = aiokafka_options(oauth_settings(token_file))["sasl_oauth_token_provider"]
    assert asyncio.run(provider.token()) == "worker.jwt.token"


def test_an_emptied_token_file_names_the_setting(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("t")
    provider = client_options(oauth_settings(token_file))["sasl_oauth_token_provider"]
    token_file.write_text("")
    with pytest.raises(ValueError, match="JOURNEY_KAFKA_SASL_OAUTH_TOKEN_FILE"):
        provider.token()


def test_plain_text_has_no_tls_or_sasl_options():
    assert client_options(KafkaSettings()) == {"security_protocol": "PLAINTEXT"}
