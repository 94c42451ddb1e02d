"""Compatibility levels, checks and deletes of the embedded registry, against Confluent's rules."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType
from avro.schema import parse as parse_avro
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient, SchemaRegistryError

from schemas.registry.client import MEDIA_TYPE, RegistryClient, RegistryError
from schemas.registry.compatibility import (
    DEFAULT_LEVEL,
    LEVELS,
    CompatibilityResult,
    check,
    normalize_level,
)
from schemas.registry.server import EmbeddedRegistry

Evolution = Callable[[dict[str, Any]], dict[str, Any]]

INVALID_LEVEL = (
    "Invalid compatibility level. Valid values are none, backward, forward, full, "
    "backward_transitive, forward_transitive, and full_transitive"
)
OPTIONAL_EMAIL = {"name": "email", "type": ["null", "string"], "default": None}
REQUIRED_EMAIL = {"name": "email", "type": "string"}
DEFAULTED_EMAIL = {**REQUIRED_EMAIL, "default": ""}
OPTIONAL_NOTE = {"name": "note", "type": ["null", "string"], "default": None}


def added(schema: dict[str, Any], field: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "fields": [*schema["fields"], field]}


def without(schema: dict[str, Any], name: str) -> dict[str, Any]:
    return {**schema, "fields": [f for f in schema["fields"] if f["name"] != name]}


def changed(schema: dict[str, Any], name: str, **attributes: Any) -> dict[str, Any]:
    fields = [{**f, **attributes} if f["name"] == name else f for f in schema["fields"]]
    return {**schema, "fields": fields}


def text(schema: dict[str, Any]) -> str:
    return json.dumps(schema, ensure_ascii=False)


def error_of(response: httpx.Response) -> tuple[int, int]:
    assert response.headers["content-type"] == MEDIA_TYPE
    body = response.json()
    assert set(body) == {"error_code", "message"}
    return response.status_code, int(body["error_code"])


def allowed(backward: bool, forward: bool, level: str) -> bool:
    """What Confluent's level makes of a change that one earlier version can (not) take."""
    if level == "NONE":
        return True
    if level.startswith("BACKWARD"):
        return backward
    if level.startswith("FORWARD"):
        return forward
    return backward and forward


# Each change to the citizen schema: can the new schema read old data (backward), and can
# the old schema read new data (forward)?
EVOLUTIONS: dict[str, tuple[Evolution, bool, bool]] = {
    "add an optional field": (lambda p: added(p, OPTIONAL_EMAIL), True, True),
    "add a field without default": (lambda p: added(p, REQUIRED_EMAIL), False, True),
    "remove a field without default": (lambda p: without(p, "full_name"), True, False),
    "remove a field with a default": (lambda p: without(p, "ethnicity"), True, True),
    "string to int": (lambda p: changed(p, "personal_id", type="int"), False, False),
    "int to long": (lambda p: changed(p, "eid_level", type="long"), True, False),
    "an enum symbol more": (
        lambda p: changed(
            p,
            "gender",
            type={"type": "enum", "name": "Gender", "symbols": ["MALE", "FEMALE", "OTHER"]},
        ),
        True,
        False,
    ),
}


def chain(person: dict[str, Any], towards: str) -> list[dict[str, Any]]:
    """Three versions where each step passes the plain level and v3 against v1 does not.

    Backward: v2 adds an email with a default, v3 drops the default. Forward: v2 gives
    full_name a default, v3 drops full_name.
    """
    if towards == "BACKWARD":
        return [person, added(person, DEFAULTED_EMAIL), added(person, REQUIRED_EMAIL)]
    return [person, changed(person, "full_name", default=""), without(person, "full_name")]


@pytest.fixture
def global_level(client: RegistryClient) -> Iterator[str]:
    """The global level before the test, put back after it however the test ends."""
    before = client.get_compatibility()
    try:
        yield before
    finally:
        client.set_compatibility(before)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("name", EVOLUTIONS)
def test_each_level_judges_each_citizen_evolution(
    person_schema: dict[str, Any], name: str, level: str
) -> None:
    evolve, backward, forward = EVOLUTIONS[name]

    result = check(text(evolve(person_schema)), [text(person_schema)], level, versions=[1])

    assert result.is_compatible is allowed(backward, forward, level)
    assert bool(result.messages) is not result.is_compatible


@pytest.mark.parametrize(
    ("level", "towards"),
    [
        ("BACKWARD", "BACKWARD"),
        ("FORWARD", "FORWARD"),
        ("FULL", "BACKWARD"),
        ("FULL", "FORWARD"),
    ],
)
def test_transitive_levels_compare_with_every_earlier_version(
    person_schema: dict[str, Any], level: str, towards: str
) -> None:
    v1, v2, v3 = (text(s) for s in chain(person_schema, towards))

    assert check(v2, [v1], f"{level}_TRANSITIVE").is_compatible
    assert check(v3, [v1, v2], level).is_compatible
    transitive = check(v3, [v1, v2], f"{level}_TRANSITIVE", versions=[1, 2])

    assert not transitive.is_compatible
    assert "{oldSchemaVersion: 1}" in transitive.messages


def test_a_single_incompatibility_is_worded_as_confluent_does(
    person_schema: dict[str, Any],
) -> None:
    new = added(person_schema, REQUIRED_EMAIL)

    result = check(text(new), [text(person_schema)], "backward", versions=[3])

    compact = json.dumps(person_schema, separators=(",", ":"), ensure_ascii=False)
    assert result == CompatibilityResult(
        is_compatible=False,
        messages=[
            "{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'email' "
            "at path '/fields/14' in the new schema has no default value and is missing in "
            "the old schema', additionalInfo:'email'}",
            "{oldSchemaVersion: 3}",
            f"{{oldSchema: '{compact}'}}",
            "{validateFields: 'false', compatibility: 'BACKWARD'}",
        ],
    )


def test_forward_reasons_name_the_old_schema_as_reader(person_schema: dict[str, Any]) -> None:
    result = check(text(without(person_schema, "full_name")), [text(person_schema)], "FORWARD")

    assert result.messages[0] == (
        "{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'full_name' "
        "at path '/fields/1' in the old schema has no default value and is missing in the new "
        "schema', additionalInfo:'full_name'}"
    )
    # Without version numbers there is no oldSchemaVersion entry.
    assert not any(m.startswith("{oldSchemaVersion") for m in result.messages)


def test_the_root_location_avro_merges_in_is_left_out(person_schema: dict[str, Any]) -> None:
    # avro reports this type change at {"/fields/0/type", "/"}; the "/" is a merge artefact.
    new = changed(person_schema, "personal_id", type="int")
    raw = ReaderWriterCompatibilityChecker().get_compatibility(
        parse_avro(text(new)), parse_avro(text(person_schema))
    )

    result = check(text(new), [text(person_schema)], "BACKWARD")

    assert raw.locations == {"/fields/0/type", "/"}
    assert result.messages[0] == (
        "{errorType:'TYPE_MISMATCH', description:'The type (path '/fields/0/type') of a field "
        "in the new schema does not match with the old schema', additionalInfo:'reader type: "
        "int not compatible with writer type: string'}"
    )


def test_several_incompatibilities_are_reported_together(person_schema: dict[str, Any]) -> None:
    new = added(changed(person_schema, "personal_id", type="int"), REQUIRED_EMAIL)

    result = check(text(new), [text(person_schema)], "BACKWARD")

    assert result.messages[0] == (
        "{errorType:'TYPE_MISMATCH, READER_FIELD_MISSING_DEFAULT_VALUE', description:'The new "
        "schema cannot read data written with the old schema at paths '/fields/0/type', "
        "'/fields/14'', additionalInfo:'email; reader type: int not compatible with writer "
        "type: string'}"
    )


def test_full_lists_forward_reasons_before_backward_ones(person_schema: dict[str, Any]) -> None:
    new = added(without(person_schema, "full_name"), REQUIRED_EMAIL)

    result = check(text(new), [text(person_schema)], "FULL")

    assert "'full_name'" in result.messages[0]
    assert "in the old schema has no default value" in result.messages[0]
    assert "'email'" in result.messages[1]
    assert result.messages[-1] == "{validateFields: 'false', compatibility: 'FULL'}"


def test_a_rename_with_an_unqualified_alias_is_backward_compatible(
    person_schema: dict[str, Any],
) -> None:
    renamed = {**person_schema, "name": "Citizen", "aliases": ["Person"]}
    # The avro checker alone refuses this: it compares "Person" with "vn.lgsp.citizen.Person".
    # If this starts to pass, avro resolves aliases itself and the workaround can go.
    raw = ReaderWriterCompatibilityChecker().get_compatibility(
        parse_avro(text(renamed)), parse_avro(text(person_schema))
    )
    assert raw.compatibility is SchemaCompatibilityType.incompatible

    assert check(text(renamed), [text(person_schema)], "BACKWARD").is_compatible
    # The old schema has no alias for the new name, as in the Java checker.
    assert not check(text(renamed), [text(person_schema)], "FORWARD").is_compatible


def test_none_and_an_empty_subject_need_no_check(person_schema: dict[str, Any]) -> None:
    incompatible = text(changed(person_schema, "personal_id", type="int"))

    assert check(incompatible, [text(person_schema)], "NONE") == CompatibilityResult(True)
    assert check(incompatible, [], "FULL_TRANSITIVE") == CompatibilityResult(True)


def test_levels_are_case_insensitive_and_unknown_ones_refused() -> None:
    assert normalize_level("full_transitive") == "FULL_TRANSITIVE"
    assert DEFAULT_LEVEL == "BACKWARD"
    with pytest.raises(ValueError, match="unknown compatibility level 'SIDEWAYS'"):
        check('"string"', ['"string"'], "SIDEWAYS")
    with pytest.raises(ValueError, match="one number per existing schema"):
        check('"string"', ['"string"'], "BACKWARD", versions=[1, 2])


def test_registration_refuses_an_incompatible_schema_with_409(
    client: RegistryClient, subject: str, person_schema: dict[str, Any]
) -> None:
    client.register(subject, person_schema)
    evolved = client.register(subject, added(person_schema, OPTIONAL_NOTE))

    with pytest.raises(RegistryError) as caught:
        client.register(subject, added(person_schema, REQUIRED_EMAIL))

    assert (caught.value.status_code, caught.value.error_code) == (409, 409)
    assert caught.value.message.startswith(
        f'Schema being registered is incompatible with an earlier schema for subject "{subject}", '
        f"details: [{{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE'"
    )
    v2 = json.dumps(added(person_schema, OPTIONAL_NOTE), separators=(",", ":"), ensure_ascii=False)
    assert caught.value.message.endswith(
        f"{{oldSchemaVersion: 2}}, {{oldSchema: '{v2}'}}, "
        "{validateFields: 'false', compatibility: 'BACKWARD'}]"
    )
    assert client.versions(subject) == [1, 2]
    assert client.latest(subject).id == evolved


def test_an_identical_schema_is_not_checked_again(
    client: RegistryClient, subject: str, person_schema: dict[str, Any]
) -> None:
    client.set_compatibility("NONE", subject)
    first = client.register(subject, person_schema)
    client.register(subject, changed(person_schema, "personal_id", type="int"))
    client.set_compatibility("BACKWARD", subject)

    # Version 1 could not read version 2's data, yet re-registering it just returns its id.
    assert client.register(subject, person_schema) == first
    assert client.versions(subject) == [1, 2]
    with pytest.raises(RegistryError) as caught:
        client.register(subject, added(person_schema, OPTIONAL_EMAIL))
    assert caught.value.error_code == 409


@pytest.mark.parametrize(
    ("level", "accepted"), [("BACKWARD", True), ("BACKWARD_TRANSITIVE", False)]
)
def test_a_transitive_subject_refuses_what_the_plain_level_lets_in(
    client: RegistryClient,
    subject: str,
    person_schema: dict[str, Any],
    level: str,
    accepted: bool,
) -> None:
    client.set_compatibility(level, subject)
    v1, v2, v3 = chain(person_schema, "BACKWARD")
    client.register(subject, v1)
    client.register(subject, v2)

    if accepted:
        client.register(subject, v3)
    else:
        with pytest.raises(RegistryError, match=r"oldSchemaVersion: 1\}") as caught:
            client.register(subject, v3)
        assert caught.value.error_code == 409

    assert client.versions(subject) == ([1, 2, 3] if accepted else [1, 2])


def test_check_against_a_version_reports_reasons_when_verbose(
    client: RegistryClient, http: httpx.Client, subject: str, person_schema: dict[str, Any]
) -> None:
    client.register(subject, person_schema)
    client.register(subject, added(person_schema, DEFAULTED_EMAIL))
    drops_default = added(person_schema, REQUIRED_EMAIL)

    # Against version 2 the email is there to read; against version 1 it is missing.
    assert client.check_compatibility(subject, drops_default) == CompatibilityResult(True)
    assert client.check_compatibility(subject, drops_default, version=2).is_compatible
    against_v1 = client.check_compatibility(subject, drops_default, version=1)
    quiet = http.post(
        f"/compatibility/subjects/{subject}/versions/1",
        json={"schema": text(drops_default)},
    )
    minus_one = http.post(
        f"/compatibility/subjects/{subject}/versions/-1?verbose=TRUE",
        json={"schema": text(drops_default)},
    )

    assert not against_v1.is_compatible
    assert against_v1.messages[0].startswith("{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE'")
    assert "{oldSchemaVersion: 1}" in against_v1.messages
    assert quiet.json() == {"is_compatible": False}
    assert quiet.headers["content-type"] == MEDIA_TYPE
    assert minus_one.json() == {"is_compatible": True, "messages": []}


def test_check_against_a_subject_uses_its_level(
    client: RegistryClient, http: httpx.Client, subject: str, person_schema: dict[str, Any]
) -> None:
    v1, v2, v3 = chain(person_schema, "FORWARD")
    client.set_compatibility("FORWARD_TRANSITIVE", subject)
    client.register(subject, v1)
    client.register(subject, v2)

    answers = [
        http.post(
            f"/compatibility/subjects/{subject}/versions{suffix}",
            json={"schema": text(v3)},
        ).json()
        for suffix in ("", "?verbose=true", "/latest")
    ]

    assert answers[0] == {"is_compatible": False}
    assert "{oldSchemaVersion: 1}" in answers[1]["messages"]
    assert (
        "{validateFields: 'false', compatibility: 'FORWARD_TRANSITIVE'}" in answers[1]["messages"]
    )
    # Against one version a transitive level compares with that version only.
    assert answers[2] == {"is_compatible": True}


def test_check_against_a_subject_without_versions_is_compatible(
    http: httpx.Client, subject: str
) -> None:
    response = http.post(
        f"/compatibility/subjects/{subject}/versions?verbose=true",
        json={"schema": '"string"'},
    )

    assert response.json() == {"is_compatible": True, "messages": []}


def test_check_errors_follow_confluent(
    client: RegistryClient, http: httpx.Client, subject: str, fresh_schema: dict[str, Any]
) -> None:
    client.register(subject, fresh_schema)
    client.register(subject, added(fresh_schema, OPTIONAL_EMAIL))
    client.delete_version(subject, 2)
    body = {"schema": text(fresh_schema)}

    def post(path: str, payload: Any = body) -> httpx.Response:
        return http.post(f"/compatibility/subjects/{path}", json=payload)

    assert error_of(post(f"{subject}-absent/versions/latest")) == (404, 40401)
    assert error_of(post(f"{subject}/versions/3")) == (404, 40402)
    # A soft-deleted version is no longer there to compare with.
    assert error_of(post(f"{subject}/versions/2")) == (404, 40402)
    assert error_of(post(f"{subject}/versions/abc")) == (422, 42202)
    assert error_of(post(f"{subject}/versions/latest", {"schema": "{not json"})) == (422, 42201)
    assert error_of(post(f"{subject}/versions/latest", {"schema": '{"type": "nope"}'})) == (
        422,
        42201,
    )


def test_a_verbose_check_answers_an_invalid_schema_as_incompatible(
    client: RegistryClient, subject: str, fresh_schema: dict[str, Any]
) -> None:
    client.register(subject, fresh_schema)

    result = client.check_compatibility(subject, {"type": "record", "name": "NoFields"})

    assert not result.is_compatible
    assert result.messages[0].startswith("Invalid schema: ")


def test_the_global_level_is_backward_until_changed(
    client: RegistryClient, http: httpx.Client, global_level: str
) -> None:
    assert global_level == "BACKWARD"
    assert http.get("/config").json() == {"compatibilityLevel": "BACKWARD"}

    answer = http.put("/config", json={"compatibility": "full_transitive"})

    assert answer.json() == {"compatibility": "FULL_TRANSITIVE"}
    assert answer.headers["content-type"] == MEDIA_TYPE
    assert http.get("/config").json() == {"compatibilityLevel": "FULL_TRANSITIVE"}
    assert client.set_compatibility("forward") == "FORWARD"
    assert client.get_compatibility() == "FORWARD"


def test_the_global_level_governs_subjects_without_their_own(
    client: RegistryClient, subject: str, person_schema: dict[str, Any], global_level: str
) -> None:
    own = f"{subject}-own"
    client.set_compatibility("FORWARD")
    client.set_compatibility("BACKWARD", own)
    for name in (subject, own):
        client.register(name, person_schema)

    client.register(subject, added(person_schema, REQUIRED_EMAIL))
    with pytest.raises(RegistryError) as caught:
        client.register(own, added(person_schema, REQUIRED_EMAIL))

    assert caught.value.error_code == 409
    assert client.get_compatibility(subject) == "FORWARD"


def test_subject_levels_are_set_read_and_removed(
    client: RegistryClient, http: httpx.Client, subject: str
) -> None:
    assert error_of(http.get(f"/config/{subject}")) == (404, 40408)
    assert http.get(f"/config/{subject}").json()["message"] == (
        f"Subject '{subject}' does not have subject-level compatibility configured"
    )
    assert http.get(f"/config/{subject}?defaultToGlobal=true").json() == {
        "compatibilityLevel": client.get_compatibility()
    }

    assert http.put(f"/config/{subject}", json={"compatibility": "none"}).json() == {
        "compatibility": "NONE"
    }
    assert client.set_compatibility("FULL", subject) == "FULL"

    assert http.get(f"/config/{subject}").json() == {"compatibilityLevel": "FULL"}
    assert client.get_compatibility(subject) == "FULL"
    assert http.delete(f"/config/{subject}").json() == {"compatibilityLevel": "FULL"}
    assert error_of(http.delete(f"/config/{subject}")) == (404, 40401)
    assert error_of(http.get(f"/config/{subject}")) == (404, 40408)


@pytest.mark.parametrize(
    "body",
    [
        b'{"compatibility": "SIDEWAYS"}',
        b'{"compatibility": 7}',
        b'{"compatibilityLevel": "FULL"}',
        b"{}",
        b"[1]",
        b'"FULL"',
        b"{",
        b"",
        b"\xff\xfe",
    ],
)
@pytest.mark.parametrize("path", ["/config", "/config/{}"])
def test_an_invalid_level_is_error_42203(
    client: RegistryClient, http: httpx.Client, subject: str, body: bytes, path: str
) -> None:
    before = client.get_compatibility()

    response = http.put(path.format(subject), content=body, headers={"Content-Type": MEDIA_TYPE})

    assert error_of(response) == (422, 42203)
    assert response.json()["message"] == INVALID_LEVEL
    assert client.get_compatibility() == before
    assert error_of(http.get(f"/config/{subject}")) == (404, 40408)


def test_levels_survive_a_restart(tmp_path: Path, person_schema: dict[str, Any]) -> None:
    storage = f"sqlite:///{tmp_path / 'registry.db'}"
    with EmbeddedRegistry(storage) as first_run, RegistryClient(first_run.url) as client:
        client.set_compatibility("FULL")
        client.set_compatibility("NONE", "citizen-value")
        client.register("citizen-value", person_schema)

    with EmbeddedRegistry(storage) as second_run, RegistryClient(second_run.url) as client:
        assert client.get_compatibility() == "FULL"
        assert client.get_compatibility("citizen-value") == "NONE"
        assert client.get_compatibility("business-value") == "FULL"
        # NONE still holds for the subject: an incompatible change gets in.
        client.register("citizen-value", changed(person_schema, "personal_id", type="int"))
        assert client.versions("citizen-value") == [1, 2]


def test_soft_deleting_a_subject_hides_it_but_keeps_its_ids(
    client: RegistryClient, http: httpx.Client, subject: str, fresh_schema: dict[str, Any]
) -> None:
    first = client.register(subject, fresh_schema)
    client.register(subject, added(fresh_schema, OPTIONAL_EMAIL))
    client.set_compatibility("FULL", subject)

    assert client.delete_subject(subject) == [1, 2]

    assert subject not in client.subjects()
    assert subject in http.get("/subjects?deleted=true").json()
    assert error_of(http.get(f"/subjects/{subject}/versions")) == (404, 40401)
    assert http.get(f"/subjects/{subject}/versions?deleted=true").json() == [1, 2]
    assert error_of(http.get(f"/subjects/{subject}/versions/latest")) == (404, 40401)
    assert json.loads(client.get_schema(first)) == fresh_schema
    assert http.get(f"/schemas/ids/{first}/versions").json() == []
    # As in Confluent, the subject's own level goes with it.
    assert error_of(http.get(f"/config/{subject}")) == (404, 40408)
    assert error_of(http.delete(f"/subjects/{subject}")) == (404, 40404)


def test_a_permanent_delete_needs_a_soft_delete_first(
    client: RegistryClient, http: httpx.Client, subject: str, fresh_schema: dict[str, Any]
) -> None:
    first = client.register(subject, fresh_schema)
    client.register(subject, added(fresh_schema, OPTIONAL_EMAIL))
    client.delete_version(subject, 1)

    with pytest.raises(RegistryError) as caught:
        client.delete_subject(subject, permanent=True)
    assert (caught.value.status_code, caught.value.error_code) == (404, 40405)
    assert caught.value.message == (
        f"Subject '{subject}' was not deleted first before being permanently deleted"
    )

    assert client.delete_subject(subject) == [2]
    assert client.delete_subject(subject, permanent=True) == [1, 2]

    assert subject not in http.get("/subjects?deleted=true").json()
    assert error_of(http.get(f"/subjects/{subject}/versions?deleted=true")) == (404, 40401)
    assert error_of(http.delete(f"/subjects/{subject}?permanent=true")) == (404, 40401)
    # Ids are never handed out twice, so the schema stays readable by its id.
    assert json.loads(client.get_schema(first)) == fresh_schema


def test_deleting_versions_follows_confluent(
    client: RegistryClient, http: httpx.Client, subject: str, fresh_schema: dict[str, Any]
) -> None:
    client.register(subject, fresh_schema)
    client.register(subject, added(fresh_schema, OPTIONAL_EMAIL))
    third = client.register(subject, added(fresh_schema, {**OPTIONAL_EMAIL, "name": "phone"}))

    assert client.delete_version(subject, 2) == 2
    assert client.versions(subject) == [1, 3]
    assert error_of(http.delete(f"/subjects/{subject}/versions/2")) == (404, 40406)
    assert error_of(http.delete(f"/subjects/{subject}/versions/1?permanent=true")) == (404, 40407)
    assert error_of(http.delete(f"/subjects/{subject}/versions/9")) == (404, 40402)
    assert error_of(http.delete(f"/subjects/{subject}-absent/versions/1")) == (404, 40401)
    assert error_of(http.delete(f"/subjects/{subject}/versions/abc")) == (422, 42202)
    assert client.delete_version(subject, 2, permanent=True) == 2
    assert http.get(f"/subjects/{subject}/versions?deleted=true").json() == [1, 3]

    assert client.delete_version(subject, "latest") == 3
    assert client.latest(subject).version == 1
    assert json.loads(client.get_schema(third))["fields"][-1]["name"] == "phone"


def test_soft_deleted_versions_no_longer_count_for_compatibility(
    client: RegistryClient, subject: str, person_schema: dict[str, Any]
) -> None:
    client.set_compatibility("NONE", subject)
    client.register(subject, person_schema)
    client.register(subject, changed(person_schema, "personal_id", type="int"))
    client.set_compatibility("BACKWARD", subject)
    evolved = added(person_schema, OPTIONAL_EMAIL)
    assert not client.check_compatibility(subject, evolved).is_compatible

    client.delete_version(subject, 2)

    assert client.check_compatibility(subject, evolved).is_compatible
    client.register(subject, evolved)
    assert client.versions(subject) == [1, 3]


def test_a_soft_deleted_schema_comes_back_as_a_new_version_with_its_id(
    client: RegistryClient, subject: str, fresh_schema: dict[str, Any]
) -> None:
    first = client.register(subject, fresh_schema)
    client.delete_subject(subject)

    assert client.register(subject, fresh_schema) == first
    assert client.versions(subject) == [2]
    assert client.latest(subject).id == first


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("DELETE", "/subjects/{}?permanent=maybe", (404, 40401)),
        ("DELETE", "/subjects/{}/versions/0", (422, 42202)),
        ("DELETE", "/subjects/{}/versions/2147483648", (422, 42202)),
        ("GET", "/subjects/{}/versions/latest/schema", (404, 40401)),
        ("GET", "/subjects/{}/versions/x/schema", (422, 42202)),
        ("GET", "/config/{}?defaultToGlobal=yes", (404, 40408)),
        ("GET", "/schemas/ids/abc/versions", (422, 422)),
        ("GET", "/schemas/ids/2147483647/versions", (404, 40403)),
        ("POST", "/compatibility/subjects/{}/versions/latest", (422, 42201)),
        ("POST", "/compatibility/subjects/{}/versions", (422, 42201)),
        ("DELETE", "/config", (405, 405)),
    ],
)
def test_bad_requests_get_a_confluent_error_never_a_500(
    http: httpx.Client, subject: str, method: str, path: str, expected: tuple[int, int]
) -> None:
    response = http.request(
        method,
        path.format(subject),
        content=b'{"schema": ' if method == "POST" else None,
        headers={"Content-Type": MEDIA_TYPE},
    )

    assert error_of(response) == expected


def test_confluent_client_uses_levels_checks_and_deletes(
    registry: EmbeddedRegistry, subject: str, person_schema: dict[str, Any]
) -> None:
    confluent = SchemaRegistryClient({"url": registry.url})
    person = Schema(text(person_schema), "AVRO")
    optional = Schema(text(added(person_schema, OPTIONAL_EMAIL)), "AVRO")
    required = Schema(text(added(person_schema, REQUIRED_EMAIL)), "AVRO")
    confluent.register_schema(subject, person)

    assert confluent.test_compatibility(subject, optional) is True
    assert confluent.test_compatibility(subject, required) is False
    assert confluent.test_compatibility(subject, required, verbose=True) is False
    with pytest.raises(SchemaRegistryError) as caught:
        confluent.register_schema(subject, required)
    assert (caught.value.http_status_code, caught.value.error_code) == (409, 409)
    assert "is incompatible with an earlier schema" in caught.value.error_message

    assert confluent.set_compatibility(subject_name=subject, level="full") == {
        "compatibility": "FULL"
    }
    assert confluent.get_compatibility(subject) == "FULL"
    confluent.register_schema(subject, optional)
    assert confluent.get_versions(subject) == [1, 2]

    assert confluent.delete_version(subject, 2) == 2
    assert confluent.get_versions(subject) == [1]
    assert confluent.delete_version(subject, 2, permanent=True) == 2
    assert confluent.delete_subject(subject) == [1]
    assert subject not in confluent.get_subjects()
    assert confluent.delete_subject(subject, permanent=True) == [1]
    with pytest.raises(SchemaRegistryError) as gone:
        confluent.get_versions(subject)
    assert gone.value.error_code == 40401
