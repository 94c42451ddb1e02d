"""The registry client and the embedded Confluent-compatible server, end to end."""

from __future__ import annotations

import json
import signal
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient, SchemaRegistryError
from sqlalchemy import create_engine, text

from schemas.registry.client import (
    MEDIA_TYPE,
    RegisteredSchema,
    RegistryClient,
    RegistryError,
    RegistryUnavailable,
)
from schemas.registry.server import EmbeddedRegistry, EmbeddedRegistryError

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def with_field(schema: dict[str, Any], name: str) -> dict[str, Any]:
    """A later version of a schema: one more optional field."""
    field = {"name": name, "type": ["null", "string"], "default": None}
    return {**schema, "fields": [*schema["fields"], field]}


def error_of(response: httpx.Response) -> int:
    assert response.headers["content-type"] == MEDIA_TYPE
    body = response.json()
    assert set(body) == {"error_code", "message"}
    assert "\n" not in body["message"]
    return int(body["error_code"])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_same_schema_twice_gets_one_id_and_one_version(
    client: RegistryClient, subject: str, fresh_schema: dict[str, Any]
) -> None:
    first = client.register(subject, fresh_schema)
    # Whitespace and key order do not make a different schema.
    reformatted = json.dumps(dict(reversed(fresh_schema.items())), indent=4)

    assert client.register(subject, fresh_schema) == first
    assert client.register(subject, reformatted) == first
    assert client.versions(subject) == [1]


def test_same_schema_in_two_subjects_gets_the_same_id(
    client: RegistryClient, subject: str, fresh_schema: dict[str, Any]
) -> None:
    other = subject.replace("-value", "-key")

    assert client.register(subject, fresh_schema) == client.register(other, fresh_schema)
    assert {subject, other} <= set(client.subjects())


def test_a_changed_schema_becomes_the_next_version(
    client: RegistryClient, subject: str, fresh_schema: dict[str, Any]
) -> None:
    first = client.register(subject, fresh_schema)
    second = client.register(subject, with_field(fresh_schema, "note"))

    assert second != first
    assert client.versions(subject) == [1, 2]
    latest = client.latest(subject)
    assert (latest.subject, latest.version, latest.id) == (subject, 2, second)
    assert client.get_version(subject, 1).id == first
    assert json.loads(client.get_version(subject, 1).schema_str) == fresh_schema


def test_schema_text_is_served_by_id_with_vietnamese_intact(
    client: RegistryClient, subject: str, person_schema: dict[str, Any]
) -> None:
    schema_id = client.register(subject, person_schema)

    served = client.get_schema(schema_id)

    assert json.loads(served) == person_schema
    assert "Công dân" in served


def test_lookup_finds_the_version_holding_a_schema(
    client: RegistryClient, subject: str, fresh_schema: dict[str, Any]
) -> None:
    schema_id = client.register(subject, fresh_schema)
    client.register(subject, with_field(fresh_schema, "note"))

    found = client.lookup(subject, json.dumps(fresh_schema, indent=2))

    assert found == RegisteredSchema(
        subject=subject, version=1, id=schema_id, schema=client.get_schema(schema_id)
    )
    assert client.lookup(subject, with_field(fresh_schema, "other")) is None
    assert client.lookup(f"{subject}-absent", fresh_schema) is None


def test_a_schema_id_lists_the_subject_versions_holding_it(
    http: httpx.Client, client: RegistryClient, subject: str, fresh_schema: dict[str, Any]
) -> None:
    key_subject = subject.replace("-value", "-key")
    schema_id = client.register(subject, fresh_schema)
    client.register(subject, with_field(fresh_schema, "note"))
    client.register(key_subject, with_field(fresh_schema, "note"))
    client.register(key_subject, fresh_schema)

    response = http.get(f"/schemas/ids/{schema_id}/versions")

    assert response.headers["content-type"] == MEDIA_TYPE
    assert response.json() == [
        {"subject": key_subject, "version": 2},
        {"subject": subject, "version": 1},
    ]


def test_a_version_schema_is_served_as_bare_text(
    http: httpx.Client, client: RegistryClient, subject: str, person_schema: dict[str, Any]
) -> None:
    client.register(subject, person_schema)

    answers = [
        http.get(f"/subjects/{subject}/versions/{version}/schema")
        for version in ("1", "latest", "-1")
    ]

    for answer in answers:
        assert answer.headers["content-type"] == MEDIA_TYPE
        # The schema itself, not a JSON string holding it.
        assert json.loads(answer.text) == person_schema
        assert "Công dân" in answer.text


def test_unknown_schema_id_is_error_40403(client: RegistryClient) -> None:
    with pytest.raises(RegistryError) as caught:
        client.get_schema(2**31 - 1)

    assert (caught.value.status_code, caught.value.error_code) == (404, 40403)
    assert str(caught.value) == f"Schema {2**31 - 1} not found (error_code 40403, HTTP 404)"


def test_unknown_subject_is_error_40401(client: RegistryClient, subject: str) -> None:
    for call in (client.latest, client.versions):
        with pytest.raises(RegistryError) as caught:
            call(subject)
        assert (caught.value.status_code, caught.value.error_code) == (404, 40401)
        assert subject in str(caught.value)


def test_unknown_version_is_error_40402(
    client: RegistryClient, subject: str, fresh_schema: dict[str, Any]
) -> None:
    client.register(subject, fresh_schema)

    with pytest.raises(RegistryError) as caught:
        client.get_version(subject, 2)

    assert (caught.value.status_code, caught.value.error_code) == (404, 40402)


@pytest.mark.parametrize("version", ["0", "-2", "abc", "2147483648"])
def test_invalid_version_is_error_42202(
    http: httpx.Client, client: RegistryClient, subject: str, version: str
) -> None:
    client.register(subject, {"type": "string"})

    response = http.get(f"/subjects/{subject}/versions/{version}")

    assert response.status_code == 422
    assert error_of(response) == 42202


def test_minus_one_means_latest_as_in_confluent(
    http: httpx.Client, client: RegistryClient, subject: str, fresh_schema: dict[str, Any]
) -> None:
    client.register(subject, fresh_schema)
    newest = client.register(subject, with_field(fresh_schema, "note"))

    response = http.get(f"/subjects/{subject}/versions/-1")

    assert response.json()["id"] == newest
    assert "schemaType" not in response.json()


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "record", "fields": []},
        {"type": "record", "name": "Bad", "fields": [{"name": "x", "type": "no.such.Type"}]},
        {
            "type": "record",
            "name": "BadDefault",
            "fields": [{"name": "n", "type": "int", "default": "x"}],
        },
        {"type": "enum", "name": "Gender", "symbols": ["MALE", "MALE"]},
        "not json at all",
        "{}",
    ],
)
def test_invalid_avro_schema_is_error_42201(
    client: RegistryClient, subject: str, schema: dict[str, Any] | str
) -> None:
    with pytest.raises(RegistryError) as caught:
        client.register(subject, schema)

    assert (caught.value.status_code, caught.value.error_code) == (422, 42201)
    assert "\n" not in str(caught.value)
    assert subject not in client.subjects()


@pytest.mark.parametrize(
    "body",
    [
        b'{"schema": ',
        b"\xff\xfe not even text",
        b"",
        b"[1, 2]",
        b'{"schema": {"type": "string"}}',
        b'{"schema": "\\"string\\"", "schemaType": "PROTOBUF"}',
        b'{"schema": "\\"string\\"", "references": [{"name": "x", "subject": "y", "version": 1}]}',
    ],
)
@pytest.mark.parametrize("path", ["/subjects/{}/versions", "/subjects/{}"])
def test_malformed_bodies_get_a_confluent_error_never_a_500(
    http: httpx.Client, subject: str, body: bytes, path: str
) -> None:
    response = http.post(
        path.format(subject),
        content=body,
        headers={"Content-Type": MEDIA_TYPE},
    )

    assert response.status_code == 422
    assert error_of(response) == 42201


def test_both_content_types_are_accepted(http: httpx.Client, subject: str) -> None:
    body = json.dumps({"schema": json.dumps({"type": "string"}), "schemaType": "AVRO"})

    ids = {
        http.post(
            f"/subjects/{subject}/versions",
            content=body,
            headers={"Content-Type": content_type},
        ).json()["id"]
        for content_type in (MEDIA_TYPE, "application/json")
    }

    assert len(ids) == 1


def test_every_answer_has_the_registry_media_type(
    http: httpx.Client, client: RegistryClient, subject: str
) -> None:
    schema_id = client.register(subject, {"type": "long"})

    answers = [
        http.get(f"/schemas/ids/{schema_id}"),
        http.get("/schemas/types"),
        http.get("/subjects"),
        http.get(f"/subjects/{subject}/versions/latest"),
        http.get("/no/such/route"),
        http.get("/schemas/ids/not-a-number"),
        http.delete("/schemas/types"),
    ]

    assert [a.headers["content-type"] for a in answers] == [MEDIA_TYPE] * len(answers)
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 404, 422, 405]
    assert answers[0].json() == {"schema": '{"type": "long"}'}
    assert answers[1].json() == ["AVRO"]
    assert [error_of(a) for a in answers[4:]] == [404, 422, 405]


def test_a_broken_store_answers_50001_in_the_confluent_shape(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'registry.db'}"
    with EmbeddedRegistry(storage) as broken:
        engine = create_engine(storage)
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE registry_subject_version"))
        engine.dispose()

        response = httpx.get(f"{broken.url}/subjects")

    assert response.status_code == 500
    assert error_of(response) == 50001


def test_unreachable_registry_is_reported_in_one_line() -> None:
    url = f"http://127.0.0.1:{free_port()}"

    with RegistryClient(url, timeout=2.0) as client, pytest.raises(RegistryUnavailable) as caught:
        client.subjects()

    assert str(caught.value).startswith(f"schema registry at {url} is unreachable: ")
    assert "\n" not in str(caught.value)
    assert caught.value.error_code is None


def test_ids_and_versions_survive_a_restart(tmp_path: Path, fresh_schema: dict[str, Any]) -> None:
    storage = f"sqlite:///{tmp_path / 'nested' / 'registry.db'}"
    with EmbeddedRegistry(storage) as first_run, RegistryClient(first_run.url) as client:
        v1 = client.register("citizen-value", fresh_schema)
        v2 = client.register("citizen-value", with_field(fresh_schema, "note"))
        other = client.register("business-value", {"type": "string"})

    with EmbeddedRegistry(storage) as second_run, RegistryClient(second_run.url) as client:
        assert client.versions("citizen-value") == [1, 2]
        assert client.latest("citizen-value").id == v2
        assert client.register("citizen-value", fresh_schema) == v1
        assert client.versions("citizen-value") == [1, 2]
        assert json.loads(client.get_schema(v1)) == fresh_schema
        assert client.subjects() == ["business-value", "citizen-value"]
        # New schemas never reuse an id handed out before the restart.
        assert client.register("citizen-value", with_field(fresh_schema, "more")) > max(
            v1, v2, other
        )


def test_embedded_registry_reports_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        registry = EmbeddedRegistry(f"sqlite:///{tmp_path / 'r.db'}", port=port)

        with pytest.raises(EmbeddedRegistryError, match=f"cannot listen on 127.0.0.1:{port}"):
            registry.start()


def test_embedded_registry_reports_unusable_storage(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    registry = EmbeddedRegistry(f"sqlite:///{blocker / 'registry.db'}")

    with pytest.raises(EmbeddedRegistryError, match="cannot open the schema registry storage"):
        registry.start()


def test_embedded_registry_leaves_ctrl_c_to_the_owning_process(tmp_path: Path) -> None:
    before = signal.getsignal(signal.SIGINT)

    with EmbeddedRegistry(f"sqlite:///{tmp_path / 'r.db'}", port=free_port()) as registry:
        assert signal.getsignal(signal.SIGINT) is before
        assert httpx.get(f"{registry.url}/subjects").json() == []

    assert signal.getsignal(signal.SIGINT) is before
    with pytest.raises(EmbeddedRegistryError, match="not started"):
        _ = registry.url


def test_confluent_client_works_against_the_embedded_registry(
    registry: EmbeddedRegistry, subject: str, fresh_schema: dict[str, Any]
) -> None:
    confluent = SchemaRegistryClient({"url": registry.url})
    schema = Schema(json.dumps(fresh_schema), "AVRO")

    schema_id = confluent.register_schema(subject, schema)
    newer_id = confluent.register_schema(
        subject, Schema(json.dumps(with_field(fresh_schema, "note")), "AVRO")
    )

    # A fresh client has no cache, so every answer below comes from the server.
    reader = SchemaRegistryClient({"url": registry.url})
    assert json.loads(reader.get_schema(schema_id).schema_str) == fresh_schema
    assert reader.get_schema(schema_id).schema_type == "AVRO"
    latest = reader.get_latest_version(subject)
    assert (latest.schema_id, latest.version, latest.subject) == (newer_id, 2, subject)
    assert reader.get_version(subject, 1).schema_id == schema_id
    assert reader.get_versions(subject) == [1, 2]
    assert subject in reader.get_subjects()
    assert reader.lookup_schema(subject, schema).version == 1
    assert reader.get_schema_types() == ["AVRO"]
    with pytest.raises(SchemaRegistryError) as caught:
        reader.get_schema(2**31 - 1)
    assert caught.value.error_code == 40403


@pytest.fixture
def postgres_storage() -> Iterator[str]:
    """A PostgreSQL URL whose tables live in a schema of their own, dropped afterwards."""
    namespace = f"registry_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {namespace}"))
    try:
        yield f"{POSTGRES}?options=-csearch_path%3D{namespace}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {namespace} CASCADE"))
        admin.dispose()


@pytest.mark.postgres
def test_registry_on_postgresql(postgres_storage: str, person_schema: dict[str, Any]) -> None:
    # Random docs defeat compression, so this schema is larger than a btree entry may be.
    large = {
        "type": "record",
        "name": "Large",
        "fields": [
            {"name": f"f{n}", "type": "string", "doc": uuid.uuid4().hex * 2} for n in range(60)
        ],
    }

    with EmbeddedRegistry(postgres_storage) as server, RegistryClient(server.url) as client:
        person_id = client.register("raw.citizen.person-value", person_schema)
        # The second version must be a compatible evolution: BACKWARD is checked here too.
        probe_id = client.register("raw.citizen.person-value", with_field(person_schema, "note"))
        assert client.register("clean.citizen.person-value", person_schema) == person_id
        large_id = client.register("large-value", large)
        client.set_compatibility("FULL", "raw.citizen.person-value")
        assert client.delete_subject("large-value") == [1]

    with EmbeddedRegistry(postgres_storage) as server, RegistryClient(server.url) as client:
        assert client.versions("raw.citizen.person-value") == [1, 2]
        assert client.latest("raw.citizen.person-value").id == probe_id
        assert json.loads(client.get_schema(person_id)) == person_schema
        assert client.get_compatibility("raw.citizen.person-value") == "FULL"
        # Soft-deleted, so it comes back as a new version under its old id.
        assert client.register("large-value", json.dumps(large, indent=2)) == large_id
        assert client.versions("large-value") == [2]
