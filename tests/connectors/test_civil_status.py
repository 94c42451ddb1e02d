"""The civil-status simulator and the three connectors that read its CSV exports."""

from __future__ import annotations

import codecs
import csv
import json
import unicodedata
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, ClassVar

import pytest

from connectors.base import MappingError, SourceRecord
from connectors.civil_status import (
    CivilBirthConnector,
    CivilDeathConnector,
    CivilMarriageConnector,
    CivilStatusConfig,
    CivilStatusConnector,
    ExportFormatError,
    SourceUnavailable,
)
from connectors.simulators.civil_status import (
    ANSWER_KEY_FILE,
    BIRTH,
    COLUMNS,
    CP1258,
    DEATH,
    DEFECT_KINDS,
    ENCODINGS_FILE,
    FILE_PATTERNS,
    MARRIAGE,
    UNMAPPABLE_KINDS,
    UTF8,
    UTF8_BOM,
    UTF8_NFD,
    cp1258_bytes,
    legacy_files,
    simulate_civil_status,
)
from connectors.simulators.manifest import SimulationManifest
from connectors.testing import ConnectorConformance
from quality.rules import RuleSet
from schemas.catalogue import default_catalogue

RECORDS = 1200
RATE = 0.1
SEED = 11
# The 30 export days straddle the administrative reform of 1 July 2025.
START = datetime(2025, 7, 20, tzinfo=UTC)
CONNECTORS: dict[str, type[CivilStatusConnector]] = {
    BIRTH: CivilBirthConnector,
    MARRIAGE: CivilMarriageConnector,
    DEATH: CivilDeathConnector,
}
# The rules each validator-caught defect must break, and nothing else.
RULES_BROKEN: dict[str, set[str]] = {
    "id_birth_mismatch": {"personal_id.gender", "personal_id.century", "personal_id.birth_year"},
    "registered_before_birth": {"date.order"},
    "registered_before_death": {"date.order"},
    "death_before_birth": {"date.order"},
    "unknown_commune": {"admin_unit.unknown"},
    "under_age": {"date.min_age"},
}
ICT = timezone(timedelta(hours=7))


@dataclass(frozen=True)
class Source:
    manifest: SimulationManifest
    directory: Path

    def config(self, **overrides: Any) -> CivilStatusConfig:
        settings: dict[str, Any] = {
            "directory": self.directory,
            "legacy_files": legacy_files(self.directory),
            "batch_size": 100,
        }
        return CivilStatusConfig(**(settings | overrides))

    def unmappable(self, dataset: str) -> int:
        tally = self.manifest.datasets[dataset]
        return sum(tally.defects_by_kind[kind] for kind in UNMAPPABLE_KINDS)

    def answer_key(self) -> dict[tuple[str, int], dict[str, str]]:
        """Spoiled records by (file, line)."""
        with (self.directory / ANSWER_KEY_FILE).open(encoding="utf-8", newline="") as handle:
            return {(row["file"], int(row["line"])): row for row in csv.DictReader(handle)}


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Source:
    directory = tmp_path_factory.mktemp("civil_status")
    manifest = simulate_civil_status(directory, RECORDS, RATE, seed=SEED, start=START)
    return Source(manifest, directory)


def mapped(connector: CivilStatusConnector, source_record: SourceRecord) -> dict[str, Any] | str:
    """The record, or the reason it cannot be mapped."""
    try:
        return connector.map(source_record.row)
    except MappingError as exc:
        return str(exc)


# --- the conformance kit, once per event type --------------------------------------------------


class _CivilConformance(ConnectorConformance):
    connector_type: ClassVar[type[CivilStatusConnector]]

    @pytest.fixture
    def connector(self, source: Source) -> CivilStatusConnector:
        return self.connector_type(source.config())

    @pytest.fixture
    def expected_dead_letters(self, source: Source) -> int:
        return source.unmappable(self.connector_type.dataset)


class TestCivilBirthConformance(_CivilConformance):
    connector_type = CivilBirthConnector


class TestCivilMarriageConformance(_CivilConformance):
    connector_type = CivilMarriageConnector


class TestCivilDeathConformance(_CivilConformance):
    connector_type = CivilDeathConnector


# --- the simulator -----------------------------------------------------------------------------


@pytest.mark.parametrize("dataset", [BIRTH, MARRIAGE, DEATH])
def test_clean_records_pass_every_rule_and_spoiled_ones_break_theirs(
    source: Source, dataset: str
) -> None:
    connector = CONNECTORS[dataset](source.config())
    rules = RuleSet.for_dataset(default_catalogue().dataset(dataset), today=START.date())
    answer_key = source.answer_key()
    found: Counter[str] = Counter()
    keys: set[tuple[str, str, str]] = set()
    read = 0
    for source_record in connector.records(None):
        read += 1
        spoiled = answer_key.get((source_record.offset["file"], source_record.offset["line"]))
        record = mapped(connector, source_record)
        if isinstance(record, str):
            assert spoiled is not None, f"a clean record is unmappable: {record}"
            assert spoiled["kind"] in UNMAPPABLE_KINDS, f"{spoiled}: {record}"
            found[spoiled["kind"]] += 1
            continue
        key = (
            record["registering_agency_id"],
            record["book_number"],
            record["registration_number"],
        )
        assert key not in keys, f"key {key} twice"
        keys.add(key)
        failures = rules.check(record)
        if spoiled is None:
            assert failures == [], source_record.offset
            continue
        assert spoiled["key"] == "|".join(key)
        broken = {failure.rule for failure in failures}
        assert broken, f"{spoiled} passes every rule"
        assert broken <= RULES_BROKEN[spoiled["kind"]], f"{spoiled}: {failures}"
        found[spoiled["kind"]] += 1
    tally = source.manifest.datasets[dataset]
    assert read == tally.records
    assert dict(found) == {kind: n for kind, n in tally.defects_by_kind.items() if n}


def test_counts_are_exact(source: Source) -> None:
    manifest = source.manifest
    assert manifest.system == "civil_status"
    assert manifest.records == RECORDS
    assert manifest.defects_injected == round(RECORDS * RATE)
    tallies = manifest.datasets
    assert tallies[BIRTH].records > tallies[DEATH].records > tallies[MARRIAGE].records
    answer_key = source.answer_key()
    assert len(answer_key) == manifest.defects_injected
    by_kind = Counter((row["dataset"], row["kind"]) for row in answer_key.values())
    for dataset, tally in tallies.items():
        assert set(tally.defects_by_kind) == set(DEFECT_KINDS[dataset])
        assert tally.defects_by_kind == {k: by_kind[(dataset, k)] for k in DEFECT_KINDS[dataset]}
        # Dealt round-robin: the kinds differ by at most one.
        spread = tally.defects_by_kind.values()
        assert max(spread) - min(spread) <= 1
        rows = 0
        for path in source.directory.glob(FILE_PATTERNS[dataset]):
            rows += _physical_lines(path) - 1  # the header
        assert rows == tally.records


def _physical_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n")


def test_the_same_seed_writes_the_same_bytes(tmp_path: Path) -> None:
    def run(name: str, seed: int) -> dict[str, bytes]:
        simulate_civil_status(tmp_path / name, 300, 0.2, seed=seed, start=START)
        return {
            path.name: path.read_bytes()
            for path in sorted((tmp_path / name).iterdir())
            if path.name != "manifest.json"  # holds created_at
        }

    first = run("a", 5)
    assert first == run("b", 5)
    assert first != run("c", 6)
    manifests = [SimulationManifest.read(tmp_path / name) for name in "ab"]
    assert manifests[0].model_dump(exclude={"created_at"}) == manifests[1].model_dump(
        exclude={"created_at"}
    )


def test_exports_mix_their_encodings_as_encodings_json_says(source: Source) -> None:
    encodings = json.loads((source.directory / ENCODINGS_FILE).read_text(encoding="utf-8"))
    for dataset, pattern in FILE_PATTERNS.items():
        names = sorted(path.name for path in source.directory.glob(pattern))
        assert names == sorted(name for name in encodings if name.startswith(pattern[:-5]))
        assert set(encodings[name] for name in names) == {UTF8, UTF8_BOM, UTF8_NFD, CP1258}
        header = ",".join(COLUMNS[dataset])
        for name in names:
            data = (source.directory / name).read_bytes()
            label = encodings[name]
            if label == CP1258:
                with pytest.raises(UnicodeDecodeError):
                    data.decode("utf-8")
                text = unicodedata.normalize("NFC", data.decode("cp1258"))
            elif label == UTF8_BOM:
                assert data.startswith(codecs.BOM_UTF8)
                text = data.decode("utf-8-sig")
            else:
                assert not data.startswith(codecs.BOM_UTF8)
                text = data.decode("utf-8")
                assert unicodedata.is_normalized("NFD" if label == UTF8_NFD else "NFC", text)
                assert not unicodedata.is_normalized("NFC" if label == UTF8_NFD else "NFD", text)
                text = unicodedata.normalize("NFC", text)
            assert text.splitlines()[0] == header
    assert legacy_files(source.directory) == sorted(
        name for name, label in encodings.items() if label == CP1258
    )


def test_one_export_per_event_type_and_day_of_entry(source: Source) -> None:
    last_day = START.date() - timedelta(days=1)
    window = {f"{last_day - timedelta(days=back):%Y%m%d}" for back in range(30)}
    for dataset, pattern in FILE_PATTERNS.items():
        connector = CONNECTORS[dataset](source.config())
        for source_record in connector.records(None):
            name = source_record.offset["file"]
            day = name[-12:-4]
            assert name == pattern.replace("*", day)
            assert day in window
            updated = source_record.row.get("Thời điểm cập nhật")
            if updated is not None:  # malformed rows have no columns
                assert f"{datetime.strptime(updated, '%d/%m/%Y %H:%M:%S'):%Y%m%d}" == day


def test_cp1258_spells_tones_with_combining_marks() -> None:
    text = "Nguyễn Thị Ngọc Ánh, Phố Châu, Hồ Sỹ Độ, Ỷ Lan, Ữ, ặ, Đường"
    data = cp1258_bytes(text)
    assert "\u0303".encode(CP1258) in data  # the tilde of ễ follows its letter
    assert unicodedata.normalize("NFC", data.decode(CP1258)) == text
    with pytest.raises(UnicodeEncodeError):
        cp1258_bytes("漢")


@pytest.mark.parametrize(
    ("records", "defect_rate", "start"),
    [
        (-1, 0.1, None),
        (True, 0.1, None),
        (10, 1.5, None),
        (10, "0.1", None),
        (10, 0.1, datetime(1999, 12, 31, tzinfo=UTC)),
    ],
)
def test_bad_arguments_are_refused(
    tmp_path: Path, records: Any, defect_rate: Any, start: datetime | None
) -> None:
    with pytest.raises(ValueError, match="must"):
        simulate_civil_status(tmp_path, records, defect_rate, start=start)


def test_a_rerun_replaces_the_earlier_exports(tmp_path: Path) -> None:
    simulate_civil_status(tmp_path, 200, 0.1, seed=1, start=START)
    manifest = simulate_civil_status(tmp_path, 50, 0.0, seed=1, start=START + timedelta(days=200))
    read = sum(
        1
        for connector_type in CONNECTORS.values()
        for _ in connector_type(Source(manifest, tmp_path).config()).records(None)
    )
    assert read == 50
    assert (tmp_path / ANSWER_KEY_FILE).read_text(encoding="utf-8").count("\n") == 1


def test_the_default_start_is_today(tmp_path: Path) -> None:
    manifest = simulate_civil_status(tmp_path, 60, 0.0)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    assert manifest.start == today
    rules = {
        dataset: RuleSet.for_dataset(default_catalogue().dataset(dataset)) for dataset in CONNECTORS
    }
    for dataset, connector_type in CONNECTORS.items():
        connector = connector_type(Source(manifest, tmp_path).config())
        for source_record in connector.records(None):
            assert rules[dataset].check(connector.map(source_record.row)) == []


# --- the connectors on hand-written exports ------------------------------------------------------

BIRTH_HEADER = (
    "Số đăng ký,Quyển số,Ngày đăng ký,Loại đăng ký,Cơ quan đăng ký,Mã định danh cơ quan đăng ký,"
    "Mã xã cơ quan đăng ký,Họ và tên,Giới tính,Ngày sinh,Nơi sinh,Mã xã nơi sinh,Dân tộc,"
    "Quốc tịch,Số định danh cá nhân,Họ và tên mẹ,Số định danh của mẹ,Quốc tịch của mẹ,"
    "Họ và tên cha,Số định danh của cha,Quốc tịch của cha,Thời điểm cập nhật"
)


def birth_line(number: int, name: str = "Nguyễn Thị Ngọc Ánh", born: str = "02/07/2025") -> str:
    return (
        f"{number},01/2025,14/07/2025,Đúng hạn,UBND xã Hương Sơn,000.05.50.H25,18133,{name},Nữ,"
        f'{born},"Trạm Y tế xã Hương Sơn, Xã Hương Sơn, Tỉnh Hà Tĩnh",18133,Kinh,Việt Nam,'
        "042325000123,Lee Soo Jin,,Hàn Quốc,Hồ Sỹ Độ,042092000456,Việt Nam,14/07/2025 09:05:30"
    )


def write(directory: Path, name: str, lines: list[str], encoding: str = UTF8) -> Path:
    text = "\r\n".join([BIRTH_HEADER, *lines]) + "\r\n"
    match encoding:
        case "cp1258":
            data = cp1258_bytes(text)
        case "utf-8-nfd":
            data = unicodedata.normalize("NFD", text).encode("utf-8")
        case _:
            data = text.encode(encoding)
    path = directory / name
    path.write_bytes(data)
    return path


def births(directory: Path, **config: Any) -> CivilBirthConnector:
    return CivilBirthConnector(CivilStatusConfig(directory=directory, **config))


def test_a_birth_row_maps_to_the_schema(tmp_path: Path) -> None:
    write(tmp_path, "khai_sinh_20250714.csv", [birth_line(7)])
    connector = births(tmp_path)
    (only,) = connector.records(None)
    assert only.offset == {"file": "khai_sinh_20250714.csv", "line": 2, "done": True}
    assert only.row["_raw"] == birth_line(7)
    assert connector.map(only.row) == {
        "registering_agency_id": "000.05.50.H25",
        "book_number": "01/2025",
        "registration_number": "7",
        "registering_commune_code": "18133",
        "registration_date": date(2025, 7, 14),
        "registration_type": "ON_TIME",
        "child": {
            "personal_id": "042325000123",
            "full_name": "Nguyễn Thị Ngọc Ánh",
            "gender": "FEMALE",
            "date_of_birth": date(2025, 7, 2),
            "place_of_birth": {
                "commune_code": "18133",
                "address": "Trạm Y tế xã Hương Sơn, Xã Hương Sơn, Tỉnh Hà Tĩnh",
            },
            "ethnicity": "Kinh",
            "nationality": "VN",
        },
        "mother": {"full_name": "Lee Soo Jin", "personal_id": None, "nationality": "KR"},
        "father": {"full_name": "Hồ Sỹ Độ", "personal_id": "042092000456", "nationality": "VN"},
        "updated_at": datetime(2025, 7, 14, 9, 5, 30, tzinfo=ICT),
    }


def test_bom_nfd_and_cp1258_exports_give_identical_nfc_records(tmp_path: Path) -> None:
    lines = [birth_line(1), birth_line(2, "Phạm Ỷ Lan"), birth_line(3, "Đặng Hữu Nghĩa")]
    for encoding in (UTF8, UTF8_BOM, UTF8_NFD, CP1258):
        write(tmp_path, f"khai_sinh_{encoding}.csv", lines, encoding)
    connector = births(tmp_path, legacy_files=["*_cp1258.csv"])
    mapped: dict[str, list[dict[str, Any]]] = {}
    for source_record in connector.records(None):
        mapped.setdefault(source_record.offset["file"], []).append(connector.map(source_record.row))
    assert len(mapped) == 4
    first, *others = mapped.values()
    assert len(first) == 3
    assert all(records == first for records in others)
    names = [record["child"]["full_name"] for record in first]
    assert names == ["Nguyễn Thị Ngọc Ánh", "Phạm Ỷ Lan", "Đặng Hữu Nghĩa"]
    assert all(unicodedata.is_normalized("NFC", name) for name in names)


def test_an_unconfigured_legacy_export_stops_with_a_hint(tmp_path: Path) -> None:
    write(tmp_path, "khai_sinh_20250714.csv", [birth_line(1)], CP1258)
    connector = births(tmp_path)
    with pytest.raises(ExportFormatError, match="legacy_files"):
        connector.check()
    with pytest.raises(ExportFormatError, match=r"khai_sinh_20250714\.csv"):
        list(connector.records(None))
    assert len(list(births(tmp_path, legacy_files=["*"]).records(None))) == 1


def test_malformed_lines_become_dead_letters_and_the_next_lines_still_come(
    tmp_path: Path,
) -> None:
    good = birth_line(1)
    lines = [
        good,
        good.replace('"Trạm Y tế xã Hương Sơn, Xã Hương Sơn, Tỉnh Hà Tĩnh"', "Trạm Y tế, xã"),
        birth_line(3).rsplit(",", 1)[0],  # the last column cut off
        birth_line(4, born="31/02/2025"),
        birth_line(5).replace(",Nữ,", ",Không rõ,"),
        birth_line(6).replace("Việt Nam", "Xứ Sở Thần Tiên", 1),
        birth_line(7).replace('"Trạm', '"Trạm"x', 1),  # broken quoting
        "",  # blank lines and empty rows hold nothing
        "," * 21,
        birth_line(8),
    ]
    path = write(tmp_path, "khai_sinh_20250714.csv", lines)
    # A line pasted from a legacy export: Windows-1258 bytes inside a UTF-8 file.
    with path.open("ab") as handle:
        handle.write(cp1258_bytes(birth_line(9)) + b"\r\n" + birth_line(10).encode() + b"\r\n")
    connector = births(tmp_path)
    outcomes: list[tuple[int, str]] = []
    for source_record in connector.records(None):
        line = source_record.offset["line"]
        assert source_record.row["_raw"]
        record = mapped(connector, source_record)
        if isinstance(record, str):
            where, _, reason = record.partition(": ")
            assert where == f"khai_sinh_20250714.csv line {line}"
            outcomes.append((line, reason))
        else:
            outcomes.append((line, "ok"))
    assert [line for line, _ in outcomes] == [2, 3, 4, 5, 6, 7, 8, 11, 12, 13]
    reasons = dict(outcomes)
    assert reasons[2] == reasons[11] == reasons[13] == "ok"
    assert reasons[3] == "23 fields where the header has 22"
    assert reasons[4] == "21 fields where the header has 22"
    assert reasons[5].startswith("Ngày sinh '31/02/2025' is not a date")
    assert reasons[6].startswith("Giới tính 'Không rõ' is not Nam or Nữ")
    assert reasons[7].startswith("Quốc tịch 'Xứ Sở Thần Tiên' is not a known country")
    assert reasons[8].startswith("malformed CSV")
    assert reasons[12] == "line 12 is not valid utf-8"


def test_resume_inside_a_file_and_after_a_finished_one(tmp_path: Path) -> None:
    write(tmp_path, "khai_sinh_20250714.csv", [birth_line(n) for n in range(1, 6)])
    write(tmp_path, "khai_sinh_20250715.csv", [birth_line(n) for n in range(6, 9)])
    connector = births(tmp_path)
    everything = list(connector.records(None))
    assert [r.offset["line"] for r in everything] == [2, 3, 4, 5, 6, 2, 3, 4]
    assert [r.offset.get("done", False) for r in everything] == [False] * 4 + [True] + [
        False
    ] * 2 + [True]

    inside = list(connector.records(everything[2].offset))
    assert inside == everything[3:]

    finished = everything[4].offset
    # A finished file is never opened again: spoiling it changes nothing.
    (tmp_path / "khai_sinh_20250714.csv").write_bytes(b"\xff not an export")
    assert list(connector.records(finished)) == everything[5:]
    assert connector.backlog(finished) == 3
    assert connector.backlog(everything[-1].offset) == 0

    # A new export after the last one read is picked up on the next run.
    write(tmp_path, "khai_sinh_20250716.csv", [birth_line(9)])
    (new,) = connector.records(everything[-1].offset)
    assert new.offset == {"file": "khai_sinh_20250716.csv", "line": 2, "done": True}


def test_restarting_after_every_few_records_loses_and_repeats_nothing(source: Source) -> None:
    connector = CivilDeathConnector(source.config())
    everything = list(connector.records(None))
    resumed: list[SourceRecord] = []
    offset = None
    while True:
        batch = []
        for source_record in connector.records(offset):
            batch.append(source_record)
            if len(batch) == 37:
                break
        if not batch:
            break
        resumed.extend(batch)
        offset = batch[-1].offset
    assert resumed == everything
    assert connector.backlog(None) == len(everything)


def test_a_malformed_offset_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="offset"):
        list(births(tmp_path).records({"updated_at": "2025-07-14"}))


def test_check_names_a_missing_directory(tmp_path: Path) -> None:
    connector = births(tmp_path / "nowhere")
    with pytest.raises(SourceUnavailable, match="nowhere"):
        connector.check()
    with pytest.raises(SourceUnavailable, match="nowhere"):
        list(connector.records(None))


def test_each_connector_reads_only_its_own_files(tmp_path: Path) -> None:
    write(tmp_path, "KHAI_SINH_20250714.CSV", [birth_line(1)])
    write(tmp_path, "khai_sinh_20250715.csv.tmp", [birth_line(2)])
    assert [r.offset["file"] for r in births(tmp_path).records(None)] == ["KHAI_SINH_20250714.CSV"]
    assert list(CivilDeathConnector(CivilStatusConfig(directory=tmp_path)).records(None)) == []
    renamed = births(tmp_path, files="*.csv.tmp")
    assert [r.offset["file"] for r in renamed.records(None)] == ["khai_sinh_20250715.csv.tmp"]


def test_a_death_with_unknown_birth_date_and_no_notice(tmp_path: Path) -> None:
    header = ",".join(COLUMNS[DEATH])
    row = (
        "12,01/2025,15/07/2025,Quá hạn,UBND phường Thành Sen,000.60.50.H25,18652,"
        "Trần Văn Toàn,Nam,,Kinh,,042045947550,02/03/2025,"
        '"Tổ dân phố 5, Phường Thành Sen, Tỉnh Hà Tĩnh",18652,,,,15/07/2025 07:36'
    )
    (tmp_path / "khai_tu_20250715.csv").write_text(f"{header}\n{row}\n", encoding="utf-8")
    connector = CivilDeathConnector(CivilStatusConfig(directory=tmp_path))
    (only,) = connector.records(None)
    record = connector.map(only.row)
    assert record["registration_type"] == "LATE"
    assert record["deceased"]["date_of_birth"] is None
    assert record["deceased"]["nationality"] == "VN"
    assert record["date_of_death"] == date(2025, 3, 2)
    assert record["cause_of_death"] is None
    assert record["death_notice"] is None
    assert record["updated_at"] == datetime(2025, 7, 15, 0, 36, tzinfo=UTC)
