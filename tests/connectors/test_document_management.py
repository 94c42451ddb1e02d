"""The document-management (e-office) connector and its simulator.

The conformance kit runs against a simulated exchange folder; hostile files (an entity bomb, an
external entity, a truncated package, an oversize file, invalid JSON) each become a dead letter
without harm; a restart resumes after the last published file; edXML and JSON of one document
give one record; the simulator's answer key agrees with what the connector and the catalogue's
rules make of every file.
"""

from __future__ import annotations

import json
import shutil
import tracemalloc
import unicodedata
import xml.etree.ElementTree as UnsafeElementTree
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from connectors.base import MappingError
from connectors.document_management import (
    DocumentManagementConfig,
    DocumentManagementConnector,
    SourceUnavailable,
)
from connectors.offsets import OffsetStore
from connectors.runner import ConnectorRunner
from connectors.simulators.document_management import (
    ANSWER_KEY_FILE,
    CONNECTOR_DEFECTS,
    DEFECT_KINDS,
    EXCHANGE_DIR,
    VALIDATOR_DEFECTS,
    simulate_document_management,
)
from connectors.simulators.manifest import SimulationManifest
from connectors.testing import ConnectorConformance
from quality.rules import RuleSet
from schemas.catalogue import Dataset, default_catalogue
from schemas.codec import AvroCodec
from schemas.json_records import record_from_json
from schemas.registry.client import RegistryClient

RECORDS = 240
RATE = 0.1
SEED = 5
START = datetime(2026, 11, 1, tzinfo=UTC)
# Spans the 2025 merger: district registers until 30 June, the new communes from 1 July.
MERGER_START = datetime(2025, 8, 20, tzinfo=UTC)
CUTOVER = datetime(2025, 7, 1, tzinfo=timezone(timedelta(hours=7)))
MiB = 1024 * 1024
# The rule family each validator-stage defect must trip, and nothing else.
EXPECTED_RULES = {
    "bad_document_number": "document_number.",
    "bad_agency_id": "agency_id.shape",
    "deadline_before_issue": "date.order",
}
EDXML_NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
REGISTER_NS = "urn:lgsp-hub:e-office:register:1"

Simulated = tuple[SimulationManifest, Path]


def reader(directory: Path, **settings: Any) -> DocumentManagementConnector:
    return DocumentManagementConnector(DocumentManagementConfig(directory=directory, **settings))


def answer_key(out_dir: Path) -> dict[str, dict[str, Any]]:
    lines = (out_dir / ANSWER_KEY_FILE).read_text(encoding="utf-8").splitlines()
    return {entry["file"]: entry for entry in map(json.loads, lines)}


def schema() -> dict[str, Any]:
    return default_catalogue().dataset("document.record").avro_schema()


def record_key(record: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(
        record[field]
        for field in ("holder_agency_id", "issuing_agency_id", "issue_date", "number_symbol")
    )


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Simulated:
    out_dir = tmp_path_factory.mktemp("document-management")
    return simulate_document_management(out_dir, RECORDS, RATE, seed=SEED, start=START), out_dir


@pytest.fixture(
    scope="module", params=[START, MERGER_START], ids=["2026", "across-the-2025-merger"]
)
def any_simulated(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    out_dir = tmp_path_factory.mktemp("document-management-any")
    start = request.param
    return simulate_document_management(out_dir, 400, 0.1, seed=SEED, start=start), out_dir


# -- the conformance kit ------------------------------------------------------------------------


class TestDocumentManagementConformance(ConnectorConformance):
    @pytest.fixture
    def connector(self, simulated: Simulated) -> DocumentManagementConnector:
        return reader(simulated[1] / EXCHANGE_DIR, batch_size=64)

    @pytest.fixture
    def expected_dead_letters(self, simulated: Simulated) -> int:
        tally = simulated[0].datasets["document.record"]
        return sum(tally.defects_by_kind[kind] for kind in CONNECTOR_DEFECTS)


# -- the simulator ------------------------------------------------------------------------------


def test_counts_are_exact(simulated: Simulated) -> None:
    manifest, out_dir = simulated
    tally = manifest.datasets["document.record"]
    files = sorted(path.name for path in (out_dir / EXCHANGE_DIR).iterdir())
    key = answer_key(out_dir)
    assert manifest.system == "document_management"
    assert (manifest.records, len(files), len(key)) == (RECORDS, RECORDS, RECORDS)
    assert set(files) == set(key)
    assert tally.defects_injected == round(RECORDS * RATE)
    assert set(tally.defects_by_kind) == set(DEFECT_KINDS)
    assert max(tally.defects_by_kind.values()) - min(tally.defects_by_kind.values()) <= 1
    assert Counter(entry["defect"] for entry in key.values() if entry["defect"]) == Counter(
        {kind: count for kind, count in tally.defects_by_kind.items() if count}
    )
    assert SimulationManifest.read(out_dir) == manifest
    assert manifest.source == {"directory": EXCHANGE_DIR, "answer_key": ANSWER_KEY_FILE}


def test_formats_and_directions_are_mixed(simulated: Simulated) -> None:
    key = answer_key(simulated[1])
    suffixes = Counter(Path(name).suffix for name in key)
    assert set(suffixes) == {".edxml", ".xml", ".json"}
    mix = Counter((entry["format"], entry["direction"]) for entry in key.values())
    assert set(mix) == {
        (form, direction) for form in ("edxml", "json") for direction in ("INCOMING", "OUTGOING")
    }


def test_the_same_arguments_give_the_same_folder(tmp_path: Path) -> None:
    def folder(name: str, seed: int) -> dict[str, bytes]:
        simulate_document_management(tmp_path / name, 80, 0.25, seed=seed, start=START)
        files = (tmp_path / name / EXCHANGE_DIR).iterdir()
        contents = {path.name: path.read_bytes() for path in files}
        contents[ANSWER_KEY_FILE] = (tmp_path / name / ANSWER_KEY_FILE).read_bytes()
        return contents

    first = folder("first", 9)
    assert folder("again", 9) == first
    assert folder("other", 10) != first
    # A second run into the same directory replaces the folder instead of adding to it.
    simulate_document_management(tmp_path / "first", 30, 0.0, seed=9, start=START)
    assert len(list((tmp_path / "first" / EXCHANGE_DIR).iterdir())) == 30


@pytest.mark.parametrize(
    ("records", "defect_rate"), [(-1, 0.1), (True, 0.1), (1.5, 0.1), (10, 1.5), (10, True)]
)
def test_bad_arguments_are_refused(tmp_path: Path, records: Any, defect_rate: Any) -> None:
    with pytest.raises(ValueError, match=r"records|defect_rate"):
        simulate_document_management(tmp_path, records, defect_rate)


def test_every_file_maps_to_the_record_its_answer_key_names(simulated: Simulated) -> None:
    out_dir = simulated[1]
    key = answer_key(out_dir)
    connector = reader(out_dir / EXCHANGE_DIR)
    for source_record in connector.records(None):
        entry = key[source_record.row["file"]]
        if entry["stage"] == "connector":
            with pytest.raises(MappingError):
                connector.map(source_record.row)
        else:
            assert connector.map(source_record.row) == record_from_json(
                schema(), entry["record"]
            ), entry["file"]


def test_clean_records_pass_every_rule_and_spoiled_ones_fail(any_simulated: Simulated) -> None:
    manifest, out_dir = any_simulated
    key = answer_key(out_dir)
    today = manifest.start.astimezone(CUTOVER.tzinfo).date()
    rules = RuleSet.for_dataset(default_catalogue().dataset("document.record"), today=today)
    connector = reader(out_dir / EXCHANGE_DIR)
    keys: set[tuple[Any, ...]] = set()
    checked = Counter()
    for source_record in connector.records(None):
        entry = key[source_record.row["file"]]
        if entry["stage"] == "connector":
            continue
        record = connector.map(source_record.row)
        assert record_key(record) not in keys, entry["file"]
        keys.add(record_key(record))
        failures = rules.check(record)
        if entry["defect"] is None:
            assert failures == [], (entry["file"], failures)
            if record["holder_level"] == "DISTRICT":
                # District registers closed with the district level on 1 July 2025.
                assert record["updated_at"] < CUTOVER
        else:
            assert failures, entry
            assert all(f.rule.startswith(EXPECTED_RULES[entry["defect"]]) for f in failures)
        checked[entry["stage"]] += 1
    spoiled = manifest.datasets["document.record"].defects_by_kind
    assert checked["validator"] == sum(spoiled[kind] for kind in VALIDATOR_DEFECTS)
    assert checked[None] == manifest.records - manifest.defects_injected


def test_district_registers_exist_only_before_the_merger(tmp_path: Path) -> None:
    simulate_document_management(tmp_path, 300, 0.0, seed=SEED, start=MERGER_START)
    records = [entry["record"] for entry in answer_key(tmp_path).values()]
    levels = Counter(record["holder_level"] for record in records)
    assert levels["DISTRICT"] > 0
    assert levels["COMMUNE"] > 0
    for record in records:
        if record["holder_level"] == "DISTRICT":
            assert date.fromisoformat(record["issue_date"]) < CUTOVER.date()


# -- hostile and broken files -------------------------------------------------------------------


def one_row(directory: Path, **settings: Any) -> tuple[DocumentManagementConnector, Any]:
    connector = reader(directory, **settings)
    (source_record,) = list(connector.records(None))
    return connector, source_record.row


def test_an_entity_bomb_is_refused_unexpanded(tmp_path: Path) -> None:
    # Small enough that expat's own amplification guard lets it through: the standard
    # library's parser turns these 1.6 kB into 7 MB of text.
    bomb = (
        '<?xml version="1.0"?>\n<!DOCTYPE edXML [\n'
        f'<!ENTITY a "{"a" * 1000}">\n'
        f'<!ENTITY b "{"&a;" * 100}">\n'
        f'<!ENTITY c "{"&b;" * 70}">\n'
        f']>\n<edXML xmlns="{EDXML_NS}">&c;</edXML>\n'
    ).encode()
    assert len(UnsafeElementTree.fromstring(bomb).text or "") == 7_000_000
    (tmp_path / "bomb.edxml").write_bytes(bomb)

    tracemalloc.start()
    try:
        connector, row = one_row(tmp_path)
        with pytest.raises(MappingError) as raised:
            connector.map(row)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MiB
    assert "bomb.edxml" in str(raised.value)
    assert "entity 'a'" in str(raised.value)
    assert "EntitiesForbidden" in str(raised.value)
    # The dead letter carries the file's name, size and head, never an expansion.
    assert set(row) == {"file", "format", "size", "head", "error"}
    assert row["size"] == len(bomb)
    assert len(json.dumps(row)) < 2000


@pytest.mark.parametrize(
    "declaration",
    ['<!ENTITY xxe SYSTEM "{target}">', '<!ENTITY % xxe SYSTEM "{target}"> %xxe;'],
    ids=["general-entity", "parameter-entity"],
)
def test_an_external_entity_is_refused_and_nothing_leaks(tmp_path: Path, declaration: str) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("mật khẩu quản trị: S3cret-Hà-Tĩnh\n", encoding="utf-8")
    exchange = tmp_path / "exchange"
    exchange.mkdir()
    dtd = declaration.format(target=secret.as_uri())
    probe = (
        f'<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE edXML [{dtd}]>\n'
        f'<edXML xmlns="{EDXML_NS}"><edXML:edXMLEnvelope xmlns:edXML="{EDXML_NS}">'
        "<edXML:edXMLHeader><edXML:MessageHeader><edXML:Subject>&xxe;</edXML:Subject>"
        "</edXML:MessageHeader></edXML:edXMLHeader></edXML:edXMLEnvelope></edXML>\n"
    )
    (exchange / "xxe.xml").write_text(probe, encoding="utf-8")
    connector, row = one_row(exchange)
    with pytest.raises(MappingError, match=r"xxe\.xml: refused: declares the external entity"):
        connector.map(row)
    assert secret.as_uri() in row["error"]
    assert "XXE" in row["error"]
    assert "S3cret" not in json.dumps(row, ensure_ascii=False)


def test_a_truncated_edxml_package_is_a_dead_letter(tmp_path: Path) -> None:
    package = edxml(INCOMING_LETTER).encode("utf-8")
    (tmp_path / "cut.edxml").write_bytes(package[: len(package) // 2])
    connector, row = one_row(tmp_path)
    with pytest.raises(MappingError, match=r"cut\.edxml: not well-formed XML, truncated"):
        connector.map(row)
    assert row["head"].startswith('<?xml version="1.0"')


def test_an_oversize_file_is_dead_lettered_unread(tmp_path: Path) -> None:
    with (tmp_path / "huge.edxml").open("wb") as huge:
        huge.truncate(64 * MiB)  # sparse: costs no disk, but reading it would cost 64 MiB
    tracemalloc.start()
    try:
        connector, row = one_row(tmp_path, max_file_bytes=MiB)
        with pytest.raises(MappingError, match=r"67108864 bytes exceed max_file_bytes 1048576"):
            connector.map(row)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MiB
    assert set(row) == {"file", "format", "size", "error"}


def test_a_file_at_the_limit_is_read_and_one_byte_over_is_not(tmp_path: Path) -> None:
    document = json.dumps(OUTGOING_DECISION_JSON, ensure_ascii=False).encode("utf-8")
    (tmp_path / "decision.json").write_bytes(document)
    connector, row = one_row(tmp_path, max_file_bytes=len(document))
    assert connector.map(row)["number_symbol"] == "20/2026/QĐ-UBND"
    connector, row = one_row(tmp_path, max_file_bytes=len(document) - 1)
    with pytest.raises(MappingError, match="exceed max_file_bytes"):
        connector.map(row)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"holder_agency_id": "000.00.00.H25",\n}', "invalid JSON"),
        (b'{"holder_agency_id": "000.00.0', "invalid JSON"),
        (b"[" * 100_000, "nested too deeply"),
        (b'{"subject": "\xff\xfe"}', "not UTF-8 JSON"),
        (b'["a list, not a register entry"]', "expected an object"),
    ],
    ids=["trailing-comma", "truncated", "deep-nesting", "not-utf-8", "not-an-object"],
)
def test_invalid_json_is_a_dead_letter(tmp_path: Path, content: bytes, reason: str) -> None:
    (tmp_path / "entry.json").write_bytes(content)
    connector, row = one_row(tmp_path)
    with pytest.raises(MappingError, match=reason):
        connector.map(row)


def test_a_missing_required_element_is_named(tmp_path: Path) -> None:
    (tmp_path / "no-number.edxml").write_text(
        edxml({**INCOMING_LETTER, "code_number": None}), encoding="utf-8"
    )
    connector, row = one_row(tmp_path)
    with pytest.raises(MappingError, match="MessageHeader/Code/CodeNumber is missing"):
        connector.map(row)


# -- one document, two formats ------------------------------------------------------------------


INCOMING_LETTER: dict[str, Any] = {
    "from_id": "000.00.06.H25",
    "from_name": "Sở Tài chính tỉnh Hà Tĩnh",
    "code_number": "1250",
    "code_notation": "STC-QLNS",
    "promulgation_date": "2026/10/05",
    "type_name": "Công văn",
    "subject": "V/v triển khai thực hiện thu ngân sách nhà nước năm 2026",
    "competence": "KT. GIÁM ĐỐC",
    "position": "PHÓ GIÁM ĐỐC",
    "signer": "Trần Thị Hương",
    "due_date": "2026/10/20",
    "traces": [("000.00.06.H25", "2026/10/05 09:30:00"), ("000.00.41.H25", "2026/10/05 09:41:27")],
    "business_doc_type": "0",
    "signed": True,
    "holder": "000.00.41.H25",
    "level": "XA",
    "direction": "DEN",
    "unit": "Phòng Kinh tế",
    "status": "05",
    "online": "true",
    "updated": "2026/10/07 10:02:11",
}
INCOMING_LETTER_JSON: dict[str, Any] = {
    "holder_agency_id": "000.00.41.H25",
    "holder_level": "COMMUNE",
    "direction": "INCOMING",
    "issuing_agency_id": "000.00.06.H25",
    "issuing_agency_name": "Sở Tài chính tỉnh Hà Tĩnh",
    "issue_date": "2026-10-05",
    "number_symbol": "1250/STC-QLNS",
    "document_type": "CONG_VAN",
    "subject": "V/v triển khai thực hiện thu ngân sách nhà nước năm 2026",
    "signer_name": "Trần Thị Hương",
    "signer_title": "KT. GIÁM ĐỐC PHÓ GIÁM ĐỐC",
    "digitally_signed": True,
    "received_at": "2026-10-05T09:41:27+07:00",
    "sent_at": None,
    "processing_deadline": "2026-10-20",
    "handling_unit": "Phòng Kinh tế",
    "processing_status": "IN_PROGRESS",
    "processed_online": True,
    "updated_at": "2026-10-07T10:02:11+07:00",
}
OUTGOING_DECISION: dict[str, Any] = {
    **INCOMING_LETTER,
    "from_id": "000.00.00.H25",
    "from_name": "Ủy ban nhân dân tỉnh Hà Tĩnh",
    "code_number": "20",
    "code_notation": "2026/QĐ-UBND",
    "promulgation_date": "2026/09/15",
    "type_name": "Quyết định",
    "subject": "Quy định hạn mức giao đất ở trên địa bàn tỉnh Hà Tĩnh",
    "competence": "TM. ỦY BAN NHÂN DÂN",
    "position": "CHỦ TỊCH",
    "signer": "Võ Trọng Hải",
    "due_date": None,
    "traces": [("000.00.00.H25", "2026/09/15 16:05:00")],
    "business_doc_type": "1",  # revoked after sending
    "holder": "000.00.00.H25",
    "level": "TINH",
    "direction": "DI",
    "unit": "Phòng Tổng hợp",
    "status": None,
    "updated": "2026/09/30 08:00:00",
}
OUTGOING_DECISION_JSON: dict[str, Any] = {
    "document_id": "000.00.00.H25,2026/09/15,20/2026/QĐ-UBND",
    "holder_agency_id": "000.00.00.H25",
    "holder_level": "PROVINCE",
    "direction": "OUTGOING",
    "issuing_agency_id": "000.00.00.H25",
    "issuing_agency_name": "Ủy ban nhân dân tỉnh Hà Tĩnh",
    "issue_date": "2026-09-15",
    "number_symbol": "20/2026/QĐ-UBND",
    "document_type": "QUYET_DINH",
    "subject": "Quy định hạn mức giao đất ở trên địa bàn tỉnh Hà Tĩnh",
    "signer_name": "Võ Trọng Hải",
    "signer_title": "TM. ỦY BAN NHÂN DÂN CHỦ TỊCH",
    "digitally_signed": True,
    "received_at": None,
    "sent_at": "2026-09-15T16:05:00+07:00",
    "processing_deadline": None,
    "handling_unit": "Phòng Tổng hợp",
    "processing_status": "WITHDRAWN",
    "processed_online": True,
    "updated_at": "2026-09-30T08:00:00+07:00",
    "recipients": [{"agency_id": "000.00.02.H25", "name": "Sở Nội vụ tỉnh Hà Tĩnh"}],
}
PARTY_RESOLUTION: dict[str, Any] = {
    **INCOMING_LETTER,
    "from_id": "000.00.16.H25",
    "from_name": "Tỉnh ủy Hà Tĩnh",
    "code_number": "05",
    "code_notation": "NQ/TU",
    "type_name": "Nghị quyết",
    "subject": "Về lãnh đạo, chỉ đạo chuyển đổi số năm 2026",
    "competence": "T/M BAN THƯỜNG VỤ",
    "position": "BÍ THƯ",
    "signer": "Nguyễn Văn Hùng",
    "due_date": None,
    "traces": [("000.00.16.H25", "2026/10/05 08:00:00"), ("000.00.00.H25", "2026/10/05 08:02:00")],
    "signed": False,
    "holder": "000.00.00.H25",
    "level": "TINH",
    "unit": "Phòng Tổng hợp",
    "status": "06",
    "online": "false",
}
PARTY_RESOLUTION_JSON: dict[str, Any] = {
    **INCOMING_LETTER_JSON,
    "holder_agency_id": "000.00.00.H25",
    "holder_level": "PROVINCE",
    "issuing_agency_id": "000.00.16.H25",
    "issuing_agency_name": "Tỉnh ủy Hà Tĩnh",
    "number_symbol": "05-NQ/TU",
    # Party documents are KHAC in the schema, whatever their own type.
    "document_type": "KHAC",
    "subject": "Về lãnh đạo, chỉ đạo chuyển đổi số năm 2026",
    "signer_name": "Nguyễn Văn Hùng",
    "signer_title": "T/M BAN THƯỜNG VỤ BÍ THƯ",
    "digitally_signed": False,
    "received_at": "2026-10-05T08:02:00+07:00",
    "processing_deadline": None,
    "handling_unit": "Phòng Tổng hợp",
    "processing_status": "COMPLETED",
    "processed_online": False,
}


def edxml(document: dict[str, Any]) -> str:
    """An edXML package (QCVN 102:2016) with the e-office register entry, written by hand."""

    def element(name: str, value: str | None, prefix: str = "edXML") -> str:
        return "" if value is None else f"<{prefix}:{name}>{value}</{prefix}:{name}>"

    traces = "".join(
        f"<edXML:TraceHeader>{element('OrganId', organ)}{element('Timestamp', moment)}"
        "</edXML:TraceHeader>"
        for organ, moment in document["traces"]
    )
    signature = (
        '<Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><SignedInfo/>'
        "<SignatureValue>c2lnbmF0dXJl</SignatureValue></Signature>"
        if document["signed"]
        else ""
    )
    register = "".join(
        element(name, document[field], "eo")
        for name, field in (
            ("HolderOrganId", "holder"),
            ("HolderLevel", "level"),
            ("Direction", "direction"),
            ("HandlingUnit", "unit"),
            ("StatusCode", "status"),
            ("ProcessedOnline", "online"),
            ("UpdatedAt", "updated"),
        )
    )
    return f"""<?xml version="1.0" encoding="utf-8"?>
<edXML xmlns="{EDXML_NS}">
 <edXML:edXMLEnvelope xmlns:edXML="{EDXML_NS}">
  <edXML:edXMLHeader>
   <edXML:MessageHeader>
    <edXML:From>{element("OrganId", document["from_id"])}
     {element("OrganName", document["from_name"])}</edXML:From>
    <edXML:To><edXML:OrganId>{document["holder"]}</edXML:OrganId></edXML:To>
    <edXML:Code>{element("CodeNumber", document["code_number"])}
     {element("CodeNotation", document["code_notation"])}</edXML:Code>
    <edXML:PromulgationInfo><edXML:Place>Hà Tĩnh</edXML:Place>
     {element("PromulgationDate", document["promulgation_date"])}</edXML:PromulgationInfo>
    <edXML:DocumentType><edXML:Type>2</edXML:Type>
     {element("TypeName", document["type_name"])}</edXML:DocumentType>
    {element("Subject", document["subject"])}
    <edXML:SignerInfo>{element("Competence", document["competence"])}
     {element("Position", document["position"])}
     {element("FullName", document["signer"])}</edXML:SignerInfo>
    {element("DueDate", document["due_date"])}
    <edXML:SteeringType>1</edXML:SteeringType>
   </edXML:MessageHeader>
   <edXML:TraceHeaderList>{traces}<edXML:Bussiness>
    {element("BussinessDocType", document["business_doc_type"])}</edXML:Bussiness>
   </edXML:TraceHeaderList>
   {signature}
  </edXML:edXMLHeader>
  <edXML:edXMLBody><edXML:edXMLManifest version="1.0"/></edXML:edXMLBody>
 </edXML:edXMLEnvelope>
 <eo:RegisterEntry xmlns:eo="{REGISTER_NS}">{register}</eo:RegisterEntry>
</edXML>
"""


@pytest.mark.parametrize(
    ("package", "api_document"),
    [
        (INCOMING_LETTER, INCOMING_LETTER_JSON),
        (OUTGOING_DECISION, OUTGOING_DECISION_JSON),
        (PARTY_RESOLUTION, PARTY_RESOLUTION_JSON),
    ],
    ids=["incoming-letter", "withdrawn-legal-decision", "party-resolution"],
)
def test_edxml_and_json_of_one_document_give_one_record(
    tmp_path: Path, package: dict[str, Any], api_document: dict[str, Any]
) -> None:
    (tmp_path / "a.edxml").write_text(edxml(package), encoding="utf-8")
    (tmp_path / "b.json").write_text(json.dumps(api_document, ensure_ascii=False), "utf-8")
    connector = reader(tmp_path)
    from_edxml, from_json = (connector.map(r.row) for r in connector.records(None))
    assert from_edxml == from_json == record_from_json(schema(), api_document)


def test_decomposed_vietnamese_is_mapped_to_nfc(tmp_path: Path) -> None:
    def nfd(document: dict[str, Any]) -> dict[str, Any]:
        return {
            key: unicodedata.normalize("NFD", value) if isinstance(value, str) else value
            for key, value in document.items()
        }

    (tmp_path / "nfd.edxml").write_text(edxml(nfd(INCOMING_LETTER)), encoding="utf-8")
    (tmp_path / "nfd.json").write_text(
        json.dumps(nfd(INCOMING_LETTER_JSON), ensure_ascii=False), "utf-8"
    )
    connector = reader(tmp_path)
    expected = record_from_json(schema(), INCOMING_LETTER_JSON)
    assert [connector.map(r.row) for r in connector.records(None)] == [expected, expected]


# -- the folder: order, resumption, what is not a document -----------------------------------


def test_only_documents_are_read_in_name_order(tmp_path: Path) -> None:
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps(OUTGOING_DECISION_JSON, ensure_ascii=False), "utf-8")
    exchange = tmp_path / "exchange"
    exchange.mkdir()
    for name in ("b.JSON", "a.xml", "c.edxml"):
        (exchange / name).write_text(json.dumps(OUTGOING_DECISION_JSON), "utf-8")
    for name in (".copying.json", "d.edxml.part", "scan.pdf"):
        (exchange / name).write_text("{}", "utf-8")
    (exchange / "subfolder.json").mkdir()
    (exchange / "link.json").symlink_to(outside)
    names = [r.row["file"] for r in reader(exchange).records(None)]
    assert names == ["a.xml", "b.JSON", "c.edxml"]


def test_backlog_counts_what_lies_after_an_offset(simulated: Simulated) -> None:
    connector = reader(simulated[1] / EXCHANGE_DIR)
    records = list(connector.records(None))
    assert connector.backlog(None) == RECORDS
    assert connector.backlog(records[99].offset) == RECORDS - 100
    assert connector.backlog(records[-1].offset) == 0


def test_an_unreadable_folder_is_named(tmp_path: Path) -> None:
    connector = reader(tmp_path / "not-mounted")
    with pytest.raises(SourceUnavailable, match="not-mounted"):
        connector.check()


def test_a_restart_resumes_after_the_last_published_file(
    tmp_path: Path,
    lgsp_broker: Any,
    lgsp_registry: Any,
    lgsp_fresh_dataset: Callable[[str], Dataset],
    lgsp_read_topic: Callable[[str, str], list[Any]],
) -> None:
    manifest = simulate_document_management(tmp_path / "sim", 120, 0.2, seed=SEED, start=START)
    produced = sorted((tmp_path / "sim" / EXCHANGE_DIR).iterdir())
    exchange = tmp_path / "exchange"
    exchange.mkdir()
    dataset = lgsp_fresh_dataset("document.record")
    offsets = OffsetStore(tmp_path / "offsets")

    def run() -> Any:
        with RegistryClient(lgsp_registry.url) as client:
            return ConnectorRunner(
                reader(exchange, batch_size=16),
                dataset,
                bootstrap_servers=lgsp_broker.bootstrap_servers,
                codec=AvroCodec(client),
                offsets=offsets,
            ).run()

    # The e-office exports 70 files, the connector stops, 50 more arrive, it starts again.
    for path in produced[:70]:
        shutil.copy(path, exchange)
    first = run()
    for path in produced[70:]:
        shutil.copy(path, exchange)
    second = run()
    third = run()
    assert (first.read, second.read, third.read) == (70, 50, 0)
    assert second.lag == 0

    raw = lgsp_read_topic(lgsp_broker.bootstrap_servers, dataset.raw_topic)
    dead = lgsp_read_topic(lgsp_broker.bootstrap_servers, dataset.dlq_topic)
    tally = manifest.datasets["document.record"]
    unparseable = sum(tally.defects_by_kind[kind] for kind in CONNECTOR_DEFECTS)
    assert (len(raw), len(dead)) == (120 - unparseable, unparseable)
    assert len({message.key for message in raw}) == len(raw)
    dead_files = [json.loads(message.value)["file"] for message in dead]
    assert len(set(dead_files)) == len(dead_files)
