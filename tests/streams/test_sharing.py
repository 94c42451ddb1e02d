"""Shared topics: personal data pseudonymised or dropped, the same id always the same pseudonym.

The topic test runs the stream worker as production does (a child process) on a hub of its
own: records go to ``raw.*``, and the validate agent publishes each one it stores to
``clean.*`` and, withheld, to ``shared.*``.
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import fastavro
import pytest
from citizens import person
from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext
from pydantic import SecretStr

from hub.runtime import Endpoints, Runtime, WorkerProcess
from hub.settings import Settings
from schemas import headers as h
from schemas.catalogue import Dataset, default_catalogue
from schemas.codec import AvroCodec
from schemas.registry.client import RegistryClient
from schemas.registry.server import EmbeddedRegistry
from streams.sharing import (
    PseudonymKeyError,
    Sharer,
    pseudonym,
    pseudonymise,
    shared_schema,
    shared_subject,
    withheld_fields,
)

CATALOGUE = default_catalogue()
PERSON = CATALOGUE.dataset("citizen.person")
BIRTH = CATALOGUE.dataset("civil.birth")
KEY = SecretStr("khóa-bí-danh-của-trung-tâm-tích-hợp-Hà-Tĩnh")
OTHER_KEY = SecretStr("một-khóa-khác-hẳn-cũng-đủ-dài-để-an-toàn-2026")

MOTHER = person(
    "042180000011",
    full_name="Võ Thị Thanh Hương",
    date_of_birth=date(1980, 4, 30),
    current_residence={"commune_code": "18073", "address": "Tổ dân phố 7, phường Trần Phú"},
)
SON = person(
    "042205000012",
    full_name="Hoàng Đức Minh",
    gender="MALE",
    date_of_birth=date(2005, 6, 1),
    mother_id="042180000011",
)
BIRTH_RECORD: dict[str, Any] = {
    "registering_agency_id": "000.00.17.H25",
    "book_number": "01/2025",
    "registration_number": "125",
    "registering_commune_code": "18073",
    "registration_date": date(2025, 3, 10),
    "registration_type": "ON_TIME",
    "child": {
        "personal_id": "042225000013",
        "full_name": "Hoàng Gia Bảo",
        "gender": "MALE",
        "date_of_birth": date(2025, 3, 1),
        "place_of_birth": {"commune_code": "18073", "address": "Bệnh viện Đa khoa tỉnh Hà Tĩnh"},
        "ethnicity": "Kinh",
        "nationality": "VN",
    },
    "mother": {
        "full_name": "Võ Thị Thanh Hương",
        "personal_id": "042180000011",
        "nationality": "VN",
    },
    "father": None,
    "updated_at": MOTHER["updated_at"],
}
PERSONAL_TEXT = [
    "042180000011",
    "Võ Thị Thanh Hương",
    "Tổ dân phố 7, phường Trần Phú",
    "042205000012",
    "Hoàng Đức Minh",
    MOTHER["permanent_residence"]["address"],
]


def key_bytes(key: SecretStr) -> bytes:
    return key.get_secret_value().encode()


def test_text_is_pseudonymised_and_other_personal_fields_dropped() -> None:
    shared = pseudonymise(PERSON, SON, KEY)
    assert shared["personal_id"] == pseudonym("042205000012", key_bytes(KEY))
    assert shared["mother_id"] == pseudonym("042180000011", key_bytes(KEY))
    assert shared["full_name"].startswith("ps1_")
    assert len(shared["full_name"]) == len("ps1_") + 32
    assert shared["permanent_residence"] == {
        "commune_code": "18073",
        "address": pseudonym(SON["permanent_residence"]["address"], key_bytes(KEY)),
    }
    assert shared["date_of_birth"] is None
    assert (shared["gender"], shared["eid_level"], shared["updated_at"]) == (
        "MALE",
        2,
        SON["updated_at"],
    )
    assert SON["full_name"] == "Hoàng Đức Minh", "the given record is left as it was"
    assert SON["date_of_birth"] == date(2005, 6, 1)


def test_the_same_id_has_the_same_pseudonym_across_fields_and_datasets() -> None:
    mother = pseudonymise(PERSON, MOTHER, KEY)
    son = pseudonymise(PERSON, SON, KEY)
    birth = pseudonymise(BIRTH, BIRTH_RECORD, KEY)
    assert son["mother_id"] == mother["personal_id"]
    assert birth["mother"]["personal_id"] == mother["personal_id"]
    assert birth["mother"]["full_name"] == mother["full_name"]
    assert birth["child"]["date_of_birth"] is None
    assert birth["father"] is None, "an absent optional record stays absent"
    assert birth["registering_agency_id"] == "000.00.17.H25"


def test_pseudonyms_ignore_unicode_form_but_depend_on_the_key() -> None:
    name = "Nguyễn Thị Hồng Nhung"
    decomposed = unicodedata.normalize("NFD", name)
    assert decomposed != name
    assert pseudonym(decomposed, key_bytes(KEY)) == pseudonym(name, key_bytes(KEY))
    assert pseudonym(name, key_bytes(KEY)) != pseudonym(name, key_bytes(OTHER_KEY))
    assert pseudonym(name, key_bytes(KEY)) != pseudonym("Nguyễn Thị Hồng Nhưng", key_bytes(KEY))


def test_a_short_key_is_refused() -> None:
    with pytest.raises(PseudonymKeyError, match="at least 32 characters"):
        pseudonymise(PERSON, SON, SecretStr("ngắn-quá"))


@pytest.mark.parametrize("dataset", CATALOGUE.datasets, ids=lambda d: d.id)
def test_every_dataset_s_shared_schema_parses_and_admits_its_withheld_records(
    dataset: Dataset,
) -> None:
    schema = shared_schema(dataset)
    parsed = fastavro.parse_schema(schema)
    withheld = withheld_fields(dataset)
    for path in dataset.personal_data:
        assert any(w.path == path or w.path.startswith(f"{path}.") for w in withheld), path
    dropped_not_null = [w for w in withheld if not w.pseudonymised and not w.nullable]
    # Only a field that must change type changes the schema.
    assert (schema != dataset.avro_schema()) == bool(dropped_not_null)
    if dataset.id == PERSON.id:
        assert fastavro.validation.validate(pseudonymise(PERSON, SON, KEY), parsed)
    if dataset.id == BIRTH.id:
        assert fastavro.validation.validate(pseudonymise(BIRTH, BIRTH_RECORD, KEY), parsed)


def test_withheld_fields_follow_the_catalogue() -> None:
    fields = {w.path: w.pseudonymised for w in withheld_fields(PERSON)}
    assert fields == {
        "personal_id": True,
        "full_name": True,
        "date_of_birth": False,
        "permanent_residence.address": True,
        "current_residence.address": True,
        "father_id": True,
        "mother_id": True,
        "spouse_id": True,
    }


# --- the shared topic, through a real broker, registry and stream worker ---------------------


def test_the_sharer_encodes_the_withheld_record_under_the_shared_schema(
    registry: EmbeddedRegistry,
) -> None:
    with RegistryClient(registry.url) as client:
        codec = AvroCodec(client)
        sharer = Sharer(PERSON, codec, KEY)
        key, value = sharer.message(SON)
        schema_id, record = codec.decode(value)
    assert schema_id == sharer.schema_id
    assert record == pseudonymise(PERSON, SON, KEY)
    assert key.decode() == pseudonym(SON["personal_id"], key_bytes(KEY))
    assert sharer.topic == PERSON.shared_topic


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Endpoints, WorkerProcess]]:
    workdir = tmp_path_factory.mktemp("sharing-hub")
    with (
        Runtime(Settings(workdir=workdir), CATALOGUE) as endpoints,
        WorkerProcess(endpoints, workdir / "logs" / "worker.log", (PERSON.id,)) as worker,
    ):
        yield endpoints, worker


def wait_for_messages(
    read_topic: Callable[..., list[Any]],
    bootstrap: str,
    topic: str,
    count: int,
    worker: WorkerProcess,
) -> list[Any]:
    deadline = time.monotonic() + 90
    messages: list[Any] = []
    while time.monotonic() < deadline:
        messages = read_topic(bootstrap, topic)
        if len(messages) >= count:
            return messages
        assert worker.running, worker.log_path.read_text(errors="replace")[-3000:]
        time.sleep(0.5)
    raise AssertionError(
        f"{topic} holds {len(messages)} of {count} records; worker log:\n"
        + worker.log_path.read_text(errors="replace")[-3000:]
    )


def test_the_shared_topic_carries_no_personal_data_and_joins_still_work(
    hub: tuple[Endpoints, WorkerProcess],
    lgsp_read_topic: Callable[..., list[Any]],
) -> None:
    endpoints, worker = hub
    secret = endpoints.pseudonym_key
    records = [MOTHER, SON]
    with RegistryClient(endpoints.registry_url) as client:
        codec = AvroCodec(client)
        schema_id = codec.register(f"{PERSON.raw_topic}-value", PERSON.avro_schema())
        producer = Producer({"bootstrap.servers": endpoints.bootstrap_servers})
        # A record the validator dead-letters must not stop the others being shared.
        producer.produce(PERSON.raw_topic, key=b"undecodable", value=b"\x07not avro")
        for record in records:
            producer.produce(
                PERSON.raw_topic,
                key=record["personal_id"].encode(),
                value=codec.encode(schema_id, record),
                headers=h.encode_headers(
                    {h.SOURCE_SYSTEM: "population", h.TRACE_ID: f"trace-{record['personal_id']}"}
                ),
            )
        assert producer.flush(10) == 0

        bootstrap = endpoints.bootstrap_servers
        messages = wait_for_messages(
            lgsp_read_topic, bootstrap, PERSON.shared_topic, len(records), worker
        )
        assert len(messages) == len(records)
        for message in messages:
            raw = (message.key or b"") + (message.value or b"")
            for text in PERSONAL_TEXT:
                assert text.encode() not in raw, text
        shared = {}
        for message in messages:
            _, record = codec.decode(message.value)
            shared[record["full_name"]] = (message, record)
        # Published from the same batch: the clean topic has both, as they were sent.
        clean = wait_for_messages(
            lgsp_read_topic, bootstrap, PERSON.clean_topic, len(records), worker
        )
        assert {codec.decode(m.value)[1]["personal_id"] for m in clean} == {
            r["personal_id"] for r in records
        }

    mother_message, mother = shared[pseudonym(MOTHER["full_name"], key_bytes(secret))]
    son_message, son = shared[pseudonym(SON["full_name"], key_bytes(secret))]
    assert son["mother_id"] == mother["personal_id"]
    assert mother_message.key.decode() == mother["personal_id"], "the key is the pseudonym"
    assert mother["date_of_birth"] is None
    assert mother["current_residence"]["commune_code"] == "18073"
    headers = {k: v.decode() for k, v in son_message.headers}
    assert headers[h.TRACE_ID] == f"trace-{SON['personal_id']}"

    # A standard Confluent client reads the shared topic with the registered schema.
    confluent = SchemaRegistryClient({"url": endpoints.registry_url})
    latest = confluent.get_latest_version(shared_subject(PERSON))
    assert '"null"' in latest.schema.schema_str
    deserialize = AvroDeserializer(confluent)
    read = deserialize(
        son_message.value, SerializationContext(PERSON.shared_topic, MessageField.VALUE)
    )
    assert read is not None
    assert read["personal_id"] == son["personal_id"]
    assert read["date_of_birth"] is None
    assert worker.running
