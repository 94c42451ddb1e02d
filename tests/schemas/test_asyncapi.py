"""The AsyncAPI contract, checked structurally against the AsyncAPI 3.0 rules.

No package on PyPI ships the official AsyncAPI 3.0 JSON schema, so the rules a subscriber's
tooling relies on are checked here: references resolve, operations name messages of their
channel, every topic of every dataset is described with its Avro schema and headers.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import unicodedata
from pathlib import Path
from typing import Any

import fastavro
import yaml

from schemas import headers as h
from schemas.asyncapi import build_asyncapi
from schemas.catalogue import default_catalogue

CATALOGUE = default_catalogue()
DOCUMENT = build_asyncapi(CATALOGUE, servers={"production": "kafka:9092"})
KEY = re.compile(r"^[A-Za-z0-9.\-_]+$")


def resolve(reference: str) -> Any:
    assert reference.startswith("#/"), reference
    node: Any = DOCUMENT
    for part in reference[2:].split("/"):
        assert part in node, f"{reference} does not resolve at {part!r}"
        node = node[part]
    return node


def references(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if "$ref" in node else []
        return found + [r for value in node.values() for r in references(value)]
    if isinstance(node, list):
        return [r for value in node for r in references(value)]
    return []


def test_top_level_fields() -> None:
    assert DOCUMENT["asyncapi"] == "3.0.0"
    assert DOCUMENT["info"]["title"]
    assert DOCUMENT["info"]["version"]
    assert DOCUMENT["servers"]["production"] == {
        "host": "kafka:9092",
        "protocol": "kafka",
        "description": "Kafka at kafka:9092",
    }


def test_every_reference_resolves_and_keys_are_valid_identifiers() -> None:
    refs = references(DOCUMENT)
    assert refs
    for reference in refs:
        resolve(reference)
    for section in (
        DOCUMENT["channels"],
        DOCUMENT["operations"],
        DOCUMENT["components"]["messages"],
    ):
        assert all(KEY.match(key) for key in section), list(section)


def test_every_topic_of_every_dataset_is_a_channel() -> None:
    addresses = {channel["address"]: channel for channel in DOCUMENT["channels"].values()}
    for dataset in CATALOGUE.datasets:
        for topic in (
            dataset.raw_topic,
            dataset.clean_topic,
            dataset.dlq_topic,
            dataset.shared_topic,
        ):
            channel = addresses[topic]
            assert channel["x-lgsp-owner-agency"] == dataset.owner_agency
            assert channel["x-lgsp-sharing-level"] == dataset.sharing_level
            assert channel["messages"]


def test_operations_receive_messages_of_their_own_channel() -> None:
    for name, operation in DOCUMENT["operations"].items():
        assert operation["action"] in {"send", "receive"}, name
        channel_ref = operation["channel"]["$ref"]
        for message in operation["messages"]:
            assert message["$ref"].startswith(channel_ref + "/messages/"), name


def test_record_messages_carry_the_avro_schema_key_and_headers() -> None:
    for dataset in CATALOGUE.datasets:
        message = DOCUMENT["components"]["messages"][f"record.{dataset.id}"]
        assert message["payload"]["schemaFormat"].startswith("application/vnd.apache.avro")
        schema = message["payload"]["schema"]
        assert schema == dataset.avro_schema()
        fastavro.parse_schema(schema)
        kafka = message["bindings"]["kafka"]
        assert kafka["schemaIdPayloadEncoding"] == "confluent"
        for field in dataset.key:
            assert field in kafka["key"]["description"]
        headers = message["headers"]["properties"]
        assert {h.SOURCE_SYSTEM, h.AGENCY_ID, h.TRACE_ID, h.INGEST_TIME} <= set(headers)
        assert message["x-lgsp-personal-data"] == list(dataset.personal_data)

        dead_letter = DOCUMENT["components"]["messages"][f"dead-letter.{dataset.id}"]
        assert {h.ERROR_STAGE, h.ERROR_RULE, h.ERROR_REASON, h.ORIGIN_TOPIC} <= set(
            dead_letter["headers"]["properties"]
        )


def test_the_command_writes_yaml_and_json_in_nfc(tmp_path: Path) -> None:
    for name, load in (("asyncapi.yaml", yaml.safe_load), ("asyncapi.json", json.loads)):
        target = tmp_path / name
        result = subprocess.run(
            [sys.executable, "-m", "hub.cli", "asyncapi", "--out", str(target)],
            capture_output=True,
            text=True,
            check=False,
            env={"PATH": "/usr/bin:/bin"},
        )
        assert result.returncode == 0, result.stderr
        text = target.read_text(encoding="utf-8")
        assert unicodedata.normalize("NFC", text) == text
        assert "Cơ sở dữ liệu dân cư" in text
        written = load(text)
        assert written["channels"].keys() == build_asyncapi(CATALOGUE)["channels"].keys()
        assert "servers" not in written
