"""How the Kafka clients connect: TLS (with a client certificate for mutual TLS) and SASL
(PLAIN, SCRAM, OAUTHBEARER), for kafka-python (admin, tools) and aiokafka (the worker)."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from aiokafka.abc import AbstractTokenProvider as AsyncTokenProvider
from kafka.net.sasl.oauth import AbstractTokenProvider as TokenProvider

from ..config import KafkaSettings, load_client_certificate, reveal

__all__ = ["AsyncTokenFile", "TokenFile", "aiokafka_options", "client_options", "ssl_context"]


def _read_token(path: str) -> str:
    token = Path(path).read_text().strip()
    if not token:
        raise ValueError(f"JOURNEY_KAFKA_SASL_OAUTH_TOKEN_FILE: {path} is empty")
    return token


class TokenFile(TokenProvider):  # type: ignore[misc]
    """An OAUTHBEARER token read from a file at every authentication: whatever renews the
    file (an identity provider's sidecar, a projected service-account token) is picked up
    without a restart."""

    def __init__(self, path: str) -> None:
        self.path = path

    def token(self) -> str:
        return _read_token(self.path)


class AsyncTokenFile(AsyncTokenProvider):  # type: ignore[misc]
    """`TokenFile` for aiokafka, which awaits the token."""

    def __init__(self, path: str) -> None:
        self.path = path

    async def token(self) -> str:
        return _read_token(self.path)


def client_options(settings: KafkaSettings) -> dict[str, Any]:
    """kafka-python connection options from the settings."""
    options: dict[str, Any] = {"security_protocol": settings.kafka_security_protocol}
    options.update(_sasl(settings))
    if settings.kafka_security_protocol.endswith("SSL"):
        options["ssl_context"] = ssl_context(settings)
    return options


def aiokafka_options(settings: KafkaSettings) -> dict[str, Any]:
    """aiokafka connection options: kafka-python's, with aiokafka's own token provider."""
    options = client_options(settings)
    provider = options.get("sasl_oauth_token_provider")
    if isinstance(provider, TokenFile):
        options["sasl_oauth_token_provider"] = AsyncTokenFile(provider.path)
    return options


def _sasl(settings: KafkaSettings) -> dict[str, Any]:
    if not settings.kafka_security_protocol.startswith("SASL"):
        return {}
    mechanism = settings.kafka_sasl_mechanism
    if mechanism == "OAUTHBEARER":
        assert settings.kafka_sasl_oauth_token_file  # checked by the settings
        return {
            "sasl_mechanism": mechanism,
            "sasl_oauth_token_provider": TokenFile(settings.kafka_sasl_oauth_token_file),
        }
    return {
        "sasl_mechanism": mechanism,
        "sasl_plain_username": settings.kafka_sasl_username,
        "sasl_plain_password": reveal(settings.kafka_sasl_password),
    }


def ssl_context(settings: KafkaSettings) -> ssl.SSLContext:
    """The TLS context: the CA bundle (else the system's) and, for mutual TLS, the client
    certificate and its key (checked by the settings at start)."""
    context = ssl.create_default_context(cafile=settings.kafka_ssl_cafile)
    if settings.kafka_ssl_certfile:
        load_client_certificate(context, settings)
    return context
