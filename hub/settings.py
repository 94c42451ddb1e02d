"""Hub settings: environment variables with the ``LGSP_`` prefix, command-line flags on top.

Anything left unset means "embedded": the runtime starts what is missing itself.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where the hub's parts are; ``None`` means the embedded runtime provides it."""

    model_config = SettingsConfigDict(env_prefix="LGSP_", frozen=True, extra="ignore")

    bootstrap_servers: str | None = Field(
        default=None, description="Kafka bootstrap servers, host:port[,host:port]"
    )
    registry_url: str | None = Field(default=None, description="Confluent-API schema registry URL")
    warehouse_url: str | None = Field(default=None, description="SQLAlchemy URL of the warehouse")
    workdir: Path = Field(default=Path(".lgsp"), description="Embedded data, offsets, reports")
    connectors_file: Path = Field(
        default=Path("connectors.yaml"), description="Where connectors are declared"
    )
    topic_partitions: int = Field(default=1, ge=1, le=64, description="Partitions per topic")
    metrics_port: int | None = Field(
        default=None, ge=0, le=65535, description="Port of /metrics, /healthz, /readyz (unset: off)"
    )
    pseudonym_key: SecretStr | None = Field(
        default=None,
        min_length=32,
        description="Secret key of the pseudonyms on shared topics and in the data API",
    )
    metrics_host: str = Field(
        default="127.0.0.1", description="Interface the metrics endpoints listen on"
    )

    @field_validator(
        "bootstrap_servers",
        "registry_url",
        "warehouse_url",
        "metrics_port",
        "pseudonym_key",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def embedded_warehouse_url(self) -> str:
        return f"sqlite:///{(self.workdir / 'warehouse.db').resolve()}"
