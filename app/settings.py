"""Configuration from the environment (SPEC section 8); defaults serve local development."""

from __future__ import annotations

import os
from dataclasses import dataclass

from app import kafka_transport
from domain.access import AccessLinkSettings
from domain.tenants import DEV_TENANTS, Tenants
from domain.thinking import ModelSettings, model_settings_from_env


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


# Codecs every Kafka client reads (aiokafka's come from cramjam). lz4 here is level 9: ~14 us per
# planning event against ~3 for zstd (level 3), which also compresses these rows ~3x smaller.
COMPRESSION_TYPES = ("lz4", "zstd", "snappy", "gzip")


def compression_type(value: str) -> str | None:
    """KAFKA_COMPRESSION as the producer's ``compression_type``: a codec name, or None for ``none``."""
    codec = value.strip().lower()
    if codec == "none":
        return None
    if codec not in COMPRESSION_TYPES:
        raise ValueError(f"KAFKA_COMPRESSION must be one of {', '.join(COMPRESSION_TYPES)} or none, not {value!r}")
    return codec


@dataclass(frozen=True)
class Settings:
    broker: str
    client_id: str
    group_id: str
    partitions: int
    replication_factor: int
    compression: str | None
    tenants: Tenants
    admin_api_key: str
    webhook_allow_private: bool
    webhook_timeout_seconds: float
    webhook_retry_seconds: float
    webhook_backoff_base_seconds: float
    webhook_backoff_cap_seconds: float
    webhook_order_hold_seconds: float
    session_timeout_seconds: float
    access_link: AccessLinkSettings
    planner_model: ModelSettings
    assessor_model: ModelSettings

    @property
    def broker_urls(self) -> list[str]:
        # Faust's Kafka transport, with no fetched record skipped, a shorter fetch long-poll and an
        # eager drain loop (app/kafka_transport.py).
        return [f"{kafka_transport.SCHEME}://{host.strip()}" for host in self.broker.split(",") if host.strip()]

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ.get
        tenants_file = env("TENANTS_FILE")
        return cls(
            broker=env("KAFKA_BROKER", "127.0.0.1:9092"),
            client_id=env("KAFKA_CLIENT_ID", "interview-streams"),
            group_id=env("KAFKA_GROUP_ID", "interview-streams"),
            partitions=int(env("TOPIC_PARTITIONS", "3")),
            replication_factor=int(env("TOPIC_REPLICATION_FACTOR", "1")),
            compression=compression_type(env("KAFKA_COMPRESSION", "zstd")),
            tenants=Tenants.from_file(tenants_file) if tenants_file else Tenants(DEV_TENANTS),
            admin_api_key=env("ADMIN_API_KEY", "dev-admin-key-change-me"),
            webhook_allow_private=_flag("WEBHOOK_ALLOW_PRIVATE"),
            webhook_timeout_seconds=float(env("WEBHOOK_TIMEOUT_SECONDS", "5")),
            webhook_retry_seconds=float(env("WEBHOOK_RETRY_SECONDS", "3600")),
            webhook_backoff_base_seconds=float(env("WEBHOOK_BACKOFF_BASE_SECONDS", "1")),
            webhook_backoff_cap_seconds=float(env("WEBHOOK_BACKOFF_CAP_SECONDS", "300")),
            webhook_order_hold_seconds=float(env("WEBHOOK_ORDER_HOLD_SECONDS", "10")),
            session_timeout_seconds=float(env("KAFKA_SESSION_TIMEOUT_SECONDS", "10")),
            access_link=AccessLinkSettings(
                secret=env("ACCESS_LINK_SECRET", AccessLinkSettings.secret),
                base_url=env("ACCESS_LINK_BASE_URL", AccessLinkSettings.base_url),
            ),
            planner_model=model_settings_from_env(os.environ, "PLANNER"),
            assessor_model=model_settings_from_env(os.environ, "ASSESSOR"),
        )


settings = Settings.from_env()
