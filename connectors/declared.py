"""Connectors as an operator declares them in ``connectors.yaml``.

```yaml
connectors:
  population:                 # the name offsets and logs are kept under
    type: population          # a built-in connector
    config:                   # the connector's own Config, checked by pydantic
      database_url: postgresql+psycopg://reader@population-db/dancu
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors.base import Connector, ConnectorConfig
from connectors.population import PopulationConnector

BUILT_IN: dict[str, type[Connector[Any]]] = {PopulationConnector.name: PopulationConnector}


class ConnectorDeclarationError(ValueError):
    """``connectors.yaml`` is missing, malformed or names something unknown."""


class ConnectorDeclaration(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str
    config: dict[str, Any] = Field(default_factory=dict)


class ConnectorsFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    connectors: dict[str, ConnectorDeclaration]


def load_declarations(path: Path) -> dict[str, ConnectorDeclaration]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConnectorDeclarationError(f"LGSP_CONNECTORS_FILE: {path} does not exist") from exc
    except (OSError, yaml.YAMLError) as exc:
        raise ConnectorDeclarationError(f"cannot read {path}: {exc}") from exc
    try:
        return ConnectorsFile.model_validate(raw).connectors
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConnectorDeclarationError(f"{path}: {where}: {first['msg']}") from exc


def build_connector(name: str, declarations: dict[str, ConnectorDeclaration]) -> Connector[Any]:
    """The connector declared as ``name``, its config checked."""
    if name not in declarations:
        known = ", ".join(sorted(declarations)) or "none"
        raise ConnectorDeclarationError(
            f"no connector named {name!r} is declared (declared: {known})"
        )
    declaration = declarations[name]
    connector_class = BUILT_IN.get(declaration.type)
    if connector_class is None:
        raise ConnectorDeclarationError(
            f"connector {name!r}: unknown type {declaration.type!r} "
            f"(built in: {', '.join(sorted(BUILT_IN))})"
        )
    try:
        config: ConnectorConfig = connector_class.Config.model_validate(declaration.config)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConnectorDeclarationError(
            f"connector {name!r}: config.{where}: {first['msg']}"
        ) from exc
    return connector_class(config, instance_name=name)
