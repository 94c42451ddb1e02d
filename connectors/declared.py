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

import os
import re
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors.base import Connector, ConnectorConfig

ENTRY_POINT_GROUP = "lgsp_hub.connectors"


class ConnectorDeclarationError(ValueError):
    """``connectors.yaml`` is missing, malformed or names something unknown."""


class ConnectorDeclaration(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str
    config: dict[str, Any] = Field(default_factory=dict)


class ConnectorsFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    connectors: dict[str, ConnectorDeclaration]


_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand(value: Any, where: str) -> Any:
    """``${NAME}`` in a config value is taken from the environment: secrets stay out of YAML."""
    if isinstance(value, str):

        def lookup(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                raise ConnectorDeclarationError(f"{where} refers to ${{{name}}}, which is not set")
            return os.environ[name]

        return _ENV_REFERENCE.sub(lookup, value)
    if isinstance(value, dict):
        return {k: _expand(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


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


def connector_types() -> dict[str, type[Connector[Any]]]:
    """Connector classes by type name: the hub's own and any installed package's.

    A third-party package adds one with an entry point in the ``lgsp_hub.connectors`` group.
    """
    types: dict[str, type[Connector[Any]]] = {}
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = entry_point.load()
        except Exception as exc:  # a broken plugin must not take the others down
            raise ConnectorDeclarationError(
                f"connector type {entry_point.name!r} ({entry_point.value}) cannot be loaded: {exc}"
            ) from exc
        if not (isinstance(loaded, type) and issubclass(loaded, Connector)):
            raise ConnectorDeclarationError(
                f"entry point {entry_point.name!r} ({entry_point.value}) is not a Connector class"
            )
        types[entry_point.name] = loaded
    return types


def build_connector(name: str, declarations: dict[str, ConnectorDeclaration]) -> Connector[Any]:
    """The connector declared as ``name``, its config checked."""
    if name not in declarations:
        known = ", ".join(sorted(declarations)) or "none"
        raise ConnectorDeclarationError(
            f"no connector named {name!r} is declared (declared: {known})"
        )
    declaration = declarations[name]
    types = connector_types()
    connector_class = types.get(declaration.type)
    if connector_class is None:
        raise ConnectorDeclarationError(
            f"connector {name!r}: unknown type {declaration.type!r} "
            f"(installed: {', '.join(sorted(types)) or 'none'})"
        )
    expanded = _expand(declaration.config, f"connector {name!r}: config")
    try:
        config: ConnectorConfig = connector_class.Config.model_validate(expanded)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConnectorDeclarationError(
            f"connector {name!r}: config.{where}: {first['msg']}"
        ) from exc
    return connector_class(config, instance_name=name)
