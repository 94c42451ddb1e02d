"""``lgsp connector new``: a connector package that passes the conformance kit from the start.

The generated connector reads JSON-lines exports (one record per line, fields as in the
dataset's schema), a format most source systems can produce; an engineer replaces
``records()`` with a reader of their own source and keeps the rest.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from string import Template

from schemas.catalogue import Dataset

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

_PYPROJECT = Template("""[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "lgsp-connector-${dash_name}"
version = "0.1.0"
description = "LGSP Hub connector: ${name} -> ${dataset}"
requires-python = ">=3.11"
dependencies = ["lgsp-hub"]

[project.entry-points."lgsp_hub.connectors"]
${name} = "${package}.connector:${cls}Connector"

[tool.setuptools.packages.find]
where = ["src"]
""")

_CONNECTOR = Template('''"""The ${name} connector: publishes ${dataset} records to the hub."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

from connectors.base import Connector, ConnectorConfig, MappingError, Offset, SourceRecord
from pydantic import Field
from schemas.catalogue import default_catalogue
from schemas.json_records import JsonRecordError, record_from_json


class ${cls}Config(ConnectorConfig):
    """Settings of the source; declare passwords and tokens as pydantic ``SecretStr``."""

    source: Path = Field(description="The source system's export, one JSON record per line")


class ${cls}Connector(Connector[${cls}Config]):
    """Reads ${dataset} records; replace ``records()`` with a reader of your source."""

    name: ClassVar[str] = "${name}"
    dataset: ClassVar[str] = "${dataset}"
    source_system: ClassVar[str] = "${name}"
    Config: ClassVar[type[ConnectorConfig]] = ${cls}Config

    def records(self, since: Offset | None) -> Iterator[SourceRecord]:
        """The export's lines after the stored line number, each with its own."""
        after = since["line"] if since else 0
        with self.config.source.open(encoding="utf-8") as export:
            for number, line in enumerate(export, start=1):
                if number > after and line.strip():
                    yield SourceRecord(row={"line": number, "text": line}, offset={"line": number})

    def map(self, row: Mapping[str, Any]) -> dict[str, Any]:
        schema = default_catalogue().dataset(self.dataset).avro_schema()
        try:
            return record_from_json(schema, json.loads(row["text"]))
        except (ValueError, JsonRecordError) as exc:
            raise MappingError(f"line {row['line']}: {exc}") from exc
''')

_TEST = Template('''"""${name} passes the hub's conformance kit."""

from __future__ import annotations

from pathlib import Path

import pytest
from connectors.testing import ConnectorConformance

from ${package}.connector import ${cls}Config, ${cls}Connector

SAMPLE = Path(__file__).parent / "sample.jsonl"


class Test${cls}(ConnectorConformance):
    @pytest.fixture
    def connector(self) -> ${cls}Connector:
        return ${cls}Connector(${cls}Config(source=SAMPLE))

    @pytest.fixture
    def expected_dead_letters(self) -> int:
        # The sample's last line is not valid JSON, on purpose.
        return 1
''')

_CATALOGUE_STUB = Template("""# A catalogue entry for a new dataset fed by this connector:
# copy it into the hub's schemas/catalogue.yaml, with an Avro schema at
# schemas/<domain>/<name>.avsc, and fill in every value.
# `lgsp catalogue validate` checks the result.
- id: ${dataset}
  title:
    vi: ""
    en: ""
  owner_agency: ""          # agency e-ID, e.g. 000.00.10.H25
  source_system: ${name}
  schema: ""                # e.g. domain/name.avsc
  key: []                   # natural key field paths
  version_field: ""         # the field that orders updates of a record
  update_frequency: P1D     # ISO 8601 duration
  sharing_level: internal   # shared, internal or open
  legal_basis: ""
  personal_data: []
  rules: []
  expectations: []
""")

_README = Template("""# lgsp-connector-${dash_name}

Publishes `${dataset}` records from the ${name} source system to LGSP Hub.

```sh
pip install -e .              # registers the connector type `${name}` with the hub
pytest                        # the hub's conformance kit, against a real broker and registry
```

Declare it in the hub's `connectors.yaml`:

```yaml
connectors:
  ${name}:
    type: ${name}
    config:
      source: /path/to/export.jsonl
```

The generated `records()` reads JSON-lines exports; replace it with a reader of your source
(yield each row with the offset to resume after it). `tests/sample.jsonl` is the test source.
""")


class ScaffoldError(ValueError):
    """The scaffold cannot be written (bad name, or the directory exists)."""


def scaffold_connector(
    name: str, dataset: Dataset, sample_record: dict[str, object], out: Path
) -> Path:
    """Write a connector package named ``name`` for ``dataset`` under ``out``.

    Args:
        name: The connector type name (lowercase letters, digits, underscores).
        dataset: The catalogue dataset the connector publishes.
        sample_record: One valid record of the dataset, as JSON values, for the test source.
        out: Directory to create the package in.

    Returns:
        The package directory.
    """
    if not _NAME.match(name):
        raise ScaffoldError(f"connector name {name!r}: use lowercase letters, digits and '_'")
    root = out / f"lgsp-connector-{name.replace('_', '-')}"
    if root.exists():
        raise ScaffoldError(f"{root} already exists")
    values = {
        "name": name,
        "dash_name": name.replace("_", "-"),
        "package": f"lgsp_connector_{name}",
        "cls": "".join(part.capitalize() for part in name.split("_")),
        "dataset": dataset.id,
    }
    package = root / "src" / values["package"]
    package.mkdir(parents=True)
    (root / "tests").mkdir()
    files = {
        root / "pyproject.toml": _PYPROJECT,
        root / "README.md": _README,
        root / "catalogue_entry.yaml": _CATALOGUE_STUB,
        package / "connector.py": _CONNECTOR,
        root / "tests" / "test_connector.py": _TEST,
    }
    for path, template in files.items():
        path.write_text(template.substitute(values), encoding="utf-8")
    (package / "__init__.py").write_text(f'"""LGSP Hub connector: {name}."""\n', encoding="utf-8")
    sample = json.dumps(sample_record, ensure_ascii=False, default=str)
    (root / "tests" / "sample.jsonl").write_text(
        f"{sample}\n{sample}\n{{not json\n", encoding="utf-8"
    )
    return root
