"""Civil-status (hộ tịch) source simulator for Hà Tĩnh: the system's daily CSV exports.

The electronic civil-status system exports each day's birth, marriage and death registrations
as CSV files with Vietnamese headers: ``khai_sinh_YYYYMMDD.csv``, ``ket_hon_YYYYMMDD.csv`` and
``khai_tu_YYYYMMDD.csv``, one file per event type and day of entry, rows in entry order. The
files come from several tools, so their encodings differ as they do in practice: plain UTF-8 (the
web system), UTF-8 with a byte-order mark and CRLF lines (saved from Excel), UTF-8 in decomposed
form (NFD, from a Mac) and the legacy Windows-1258 code page with CRLF lines (the old desktop
software), which spells Vietnamese with combining tone marks. ``encodings.json`` says which file
is which; :func:`legacy_files` lists the Windows-1258 ones for the connector's config.

Every unspoiled record is consistent with the catalogue's rules: personal ids agree with the
person's birth year, century and gender; registering offices and places are communes valid on the
relevant date (registration, birth or death) in the administrative-unit list in force then;
events come before their registration, registrations before the simulated "now"; spouses are of
legal age. Registering offices are the commune People's Committees, and before 1 July 2025 the
district ones for registrations with a foreign element. Their e-IDs are invented but shaped like
QCVN 102:2016: ``000.<commune>.<district 31-42>.H25`` before the 2025 reform and
``000.<commune>.50.H25`` after it, ``000.00.<district>.H25`` for a district.

People are shared with the population register (:mod:`connectors.simulators.register`), read
from the sibling ``population`` directory or the ``population`` argument: most mothers and
fathers, spouses and the deceased are its residents, with their id, name, date of birth, gender
and ethnicity, and registrations go to the commune where they live. The rest are people it does
not hold: newborns (new ids), foreign parents and spouses (no id), parents, spouses and deceased
living in another province, deaths re-registered years later, and a few deaths registered twice
(the person is already dead). A late or repeated birth registration is often of a resident,
with the parents the register links. A register's people keep their family ties: a married
mother's husband is the father, only unmarried residents marry, apart from twins a mother's
children are born 300 days apart or more, and whoever is named as a parent or spouse does not
die in the same export. Spoiled residents of the register are never named. Without a register,
everyone is invented.

Exactly ``round(records * defect_rate)`` records are spoiled, each with one defect, dealt
round-robin per dataset over its kinds (:data:`DEFECT_KINDS`). The kinds in
:data:`UNMAPPABLE_KINDS` break the CSV itself (the connector dead-letters them); the others
break a record rule (the validator quarantines them). ``answer_key.csv`` lists every spoiled
record with its dataset, key, kind, file and line; the connector never reads it.
"""

from __future__ import annotations

import calendar
import csv
import io
import json
import random
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from functools import partial
from itertools import accumulate
from pathlib import Path
from typing import Final, TypeVar

from connectors.simulators import identities as ids
from connectors.simulators import vietnamese_names as vn
from connectors.simulators.manifest import DatasetTally, SimulationManifest, simulation_start
from connectors.simulators.register import (
    PopulationRegister,
    Resident,
    age_on,
    find_register,
    register_location,
)
from schemas.reference import AdminUnit, AdminUnits, load_admin_units

SYSTEM = "civil_status"
BIRTH = "civil.birth"
MARRIAGE = "civil.marriage"
DEATH = "civil.death"
DATASETS: tuple[str, ...] = (BIRTH, MARRIAGE, DEATH)
FILE_PREFIXES: dict[str, str] = {BIRTH: "khai_sinh", MARRIAGE: "ket_hon", DEATH: "khai_tu"}
FILE_PATTERNS: dict[str, str] = {dataset: f"{p}_*.csv" for dataset, p in FILE_PREFIXES.items()}
ENCODINGS_FILE = "encodings.json"
ANSWER_KEY_FILE = "answer_key.csv"
ANSWER_KEY_COLUMNS: tuple[str, ...] = ("dataset", "key", "kind", "detail", "file", "line")

# Labels of the encodings in encodings.json. Only "cp1258" needs the connector's config: a BOM
# announces itself and NFD is still UTF-8.
UTF8, UTF8_BOM, UTF8_NFD, CP1258 = "utf-8", "utf-8-sig", "utf-8-nfd", "cp1258"
ENCODING_WEIGHTS: tuple[tuple[str, float], ...] = (
    (UTF8, 0.55),
    (UTF8_BOM, 0.2),
    (UTF8_NFD, 0.1),
    (CP1258, 0.15),
)

UNMAPPABLE_KINDS: tuple[str, ...] = ("wrong_field_count", "impossible_date")
DEFECT_KINDS: dict[str, tuple[str, ...]] = {
    BIRTH: (*UNMAPPABLE_KINDS, "id_birth_mismatch", "registered_before_birth", "unknown_commune"),
    MARRIAGE: (*UNMAPPABLE_KINDS, "id_birth_mismatch", "under_age", "unknown_commune"),
    DEATH: (
        *UNMAPPABLE_KINDS,
        "id_birth_mismatch",
        "death_before_birth",
        "registered_before_death",
        "unknown_commune",
    ),
}
UNKNOWN_COMMUNE_CODE = "99999"

COMMON_COLUMNS: tuple[str, ...] = (
    "Số đăng ký",
    "Quyển số",
    "Ngày đăng ký",
    "Loại đăng ký",
    "Cơ quan đăng ký",
    "Mã định danh cơ quan đăng ký",
    "Mã xã cơ quan đăng ký",
)
UPDATED_COLUMN = "Thời điểm cập nhật"
BIRTH_COLUMNS: tuple[str, ...] = (
    *COMMON_COLUMNS,
    "Họ và tên",
    "Giới tính",
    "Ngày sinh",
    "Nơi sinh",
    "Mã xã nơi sinh",
    "Dân tộc",
    "Quốc tịch",
    "Số định danh cá nhân",
    "Họ và tên mẹ",
    "Số định danh của mẹ",
    "Quốc tịch của mẹ",
    "Họ và tên cha",
    "Số định danh của cha",
    "Quốc tịch của cha",
    UPDATED_COLUMN,
)
_SPOUSE_FIELDS: tuple[str, ...] = (
    "Họ và tên",
    "Ngày sinh",
    "Dân tộc",
    "Quốc tịch",
    "Số định danh",
    "Nơi cư trú",
    "Mã xã cư trú",
)
MARRIAGE_COLUMNS: tuple[str, ...] = (
    *COMMON_COLUMNS,
    *(f"{name} chồng" for name in _SPOUSE_FIELDS),
    *(f"{name} vợ" for name in _SPOUSE_FIELDS),
    UPDATED_COLUMN,
)
DEATH_COLUMNS: tuple[str, ...] = (
    *COMMON_COLUMNS,
    "Họ và tên người chết",
    "Giới tính",
    "Ngày sinh",
    "Dân tộc",
    "Quốc tịch",
    "Số định danh cá nhân",
    "Ngày chết",
    "Nơi chết",
    "Mã xã nơi chết",
    "Nguyên nhân chết",
    "Số giấy báo tử",
    "Cơ quan cấp giấy báo tử",
    UPDATED_COLUMN,
)
COLUMNS: dict[str, tuple[str, ...]] = {
    BIRTH: BIRTH_COLUMNS,
    MARRIAGE: MARRIAGE_COLUMNS,
    DEATH: DEATH_COLUMNS,
}
# The column whose commas, left unquoted, split a row; and the event's own date.
ADDRESS_COLUMN: dict[str, str] = {
    BIRTH: "Nơi sinh",
    MARRIAGE: "Nơi cư trú chồng",
    DEATH: "Nơi chết",
}
EVENT_DATE_COLUMN: dict[str, str] = {
    BIRTH: "Ngày sinh",
    MARRIAGE: "Ngày sinh vợ",
    DEATH: "Ngày chết",
}

REGISTRATION_TYPES: dict[str, str] = {
    "ON_TIME": "Đúng hạn",
    "LATE": "Quá hạn",
    "RE_REGISTRATION": "Đăng ký lại",
    "FOREIGN_ELEMENT": "Có yếu tố nước ngoài",
}
GENDERS: tuple[str, str] = ("Nam", "Nữ")
VIETNAM = "Việt Nam"

PROVINCE_CODE = "42"  # Hà Tĩnh
PROVINCE_AGENCY = "H25"  # Hà Tĩnh's level-1 letter code, as in the catalogue
DISTRICT_LEVEL2_FROM = 31  # district People's Committees follow the province's departments
COMMUNE_LEVEL2_FROM_2025 = 50  # communes of the two-level system (no districts) share one block
LIST_CHANGE = date(2025, 7, 1)
EXPORT_DAYS = 30
# Share of each event type in the province's registrations: births most, then deaths.
BIRTH_SHARE, DEATH_SHARE = 0.55, 0.27
VN_TZ: Final = timezone(timedelta(hours=7), "ICT")
OFFICE_OPENS = time(7, 30)
OFFICE_HOURS_S = int(9.5 * 3600)
# Civil-status desks work weekdays, Saturday mornings in many communes, rarely on Sunday.
WEEKDAY_WEIGHTS: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 1.0, 0.35, 0.05)
# Registrations a commune's book already held per day of the year before the window opens.
BOOK_DAILY_RATE: dict[str, float] = {BIRTH: 0.25, MARRIAGE: 0.1, DEATH: 0.12}

# Where people born outside Hà Tĩnh were registered, and where outside spouses live.
OTHER_PROVINCES: tuple[tuple[str, float], ...] = (
    ("40", 30.0),  # Nghệ An
    ("44", 12.0),  # Quảng Bình (Quảng Trị from 2025-07-01)
    ("38", 8.0),  # Thanh Hóa
    ("01", 10.0),  # Hà Nội
    ("79", 8.0),  # Hồ Chí Minh City
    ("48", 4.0),  # Đà Nẵng
    ("75", 3.0),  # Đồng Nai
)
BORN_IN_PROVINCE_SHARE = 0.9

# With a population register, the share of people drawn from it when it has someone who fits;
# the others are people it does not hold: mothers and fathers living in another province, a
# spouse from elsewhere, someone who died while visiting. Newborns get new ids, foreigners none.
REGISTER_MOTHER_SHARE = 0.92
REGISTER_FATHER_SHARE = 0.6  # the father of an unmarried resident's child
REGISTER_CHILD_SHARE = 0.8  # a late or repeated birth registration of a resident
REGISTER_SPOUSE_SHARE = 0.88
REGISTER_DECEASED_SHARE = 0.93
# Deaths registered a second time (at the hospital's commune and at home): already dead.
DUPLICATE_DEATH_SHARE = 0.015
BIRTH_SPACING_DAYS = 300  # apart from twins, a mother's children are born this far apart
MOTHER_AGES = (18, 45)
FATHER_AGES = (20, 55)
MIN_MARRIAGE_AGE: dict[bool, int] = {False: 20, True: 18}  # keyed by "is a woman"
SPOUSE_AGE_SLACK = 2  # a resident within two years of the age drawn for a spouse will do
SINGLE_OLDEST = 60  # the oldest single resident to marry when none of the age drawn is free
UNMARRIED_MOTHER_SHARE = 0.1  # how often an unmarried resident drawn as a mother is kept
DEATH_AGE_FALLBACK = 30

# (lowest age, highest age exclusive, weight): ages at death, mostly old.
DEATH_AGE_BANDS: tuple[tuple[int, int, float], ...] = (
    (0, 1, 1.5),
    (1, 15, 1.0),
    (15, 40, 5.0),
    (40, 60, 13.0),
    (60, 70, 15.0),
    (70, 80, 23.0),
    (80, 90, 27.0),
    (90, 101, 14.5),
)
# (highest age exclusive, causes with weights): the cause of death depends on the age.
CAUSES_OF_DEATH: tuple[tuple[int, tuple[tuple[str, float], ...]], ...] = (
    (1, (("Sinh non", 40.0), ("Dị tật bẩm sinh", 30.0), ("Viêm phổi", 30.0))),
    (
        40,
        (
            ("Tai nạn giao thông", 30.0),
            ("Đuối nước", 15.0),
            ("Ung thư", 15.0),
            ("Tai nạn lao động", 10.0),
            ("Bệnh tim mạch", 10.0),
            ("Sốt xuất huyết", 5.0),
        ),
    ),
    (
        70,
        (
            ("Ung thư", 30.0),
            ("Đột quỵ", 20.0),
            ("Bệnh tim mạch", 20.0),
            ("Bệnh phổi tắc nghẽn mạn tính", 8.0),
            ("Xơ gan", 8.0),
            ("Tai nạn giao thông", 7.0),
            ("Đái tháo đường", 7.0),
        ),
    ),
    (
        200,
        (
            ("Già yếu", 35.0),
            ("Đột quỵ", 18.0),
            ("Bệnh tim mạch", 17.0),
            ("Ung thư", 12.0),
            ("Bệnh phổi tắc nghẽn mạn tính", 10.0),
            ("Đái tháo đường", 5.0),
            ("Viêm phổi", 3.0),
        ),
    ),
)

T = TypeVar("T")


@dataclass(frozen=True)
class _Foreign:
    """A country Hà Tĩnh's foreign-element registrations often involve."""

    country: str
    ethnicity: str
    places: tuple[str, ...]
    men: tuple[str, ...]
    women: tuple[str, ...]


FOREIGNERS: tuple[_Foreign, ...] = (
    _Foreign(
        "Hàn Quốc",
        "Hàn",
        ("Seoul, Hàn Quốc", "Busan, Hàn Quốc", "Gyeonggi-do, Hàn Quốc"),
        ("Kim Min Jun", "Lee Seung Ho", "Park Ji Hoon", "Choi Dong Hyun"),
        ("Kim Ji Young", "Lee Soo Jin", "Park Min Ji"),
    ),
    _Foreign(
        "Đài Loan (Trung Quốc)",
        "Hán",
        ("Đài Bắc, Đài Loan (Trung Quốc)", "Đài Trung, Đài Loan (Trung Quốc)"),
        ("Lin Chih Wei", "Chen Chien Hung", "Huang Wen Chieh"),
        ("Lin Mei Ling", "Chang Ya Ting"),
    ),
    _Foreign(
        "Nhật Bản",
        "Nhật",
        ("Tokyo, Nhật Bản", "Osaka, Nhật Bản", "Aichi, Nhật Bản"),
        ("Tanaka Hiroshi", "Suzuki Kenji", "Sato Takumi"),
        ("Yamamoto Yuki", "Kato Aiko"),
    ),
    _Foreign(
        "Trung Quốc",
        "Hán",
        ("Quảng Tây, Trung Quốc", "Vân Nam, Trung Quốc"),
        ("Lý Kiến Quốc", "Vương Vĩ", "Trương Lỗi"),
        ("Lưu Phương", "Trần Tĩnh"),
    ),
    _Foreign(
        "Lào",
        "Lào",
        ("Viêng Chăn, Lào", "Khăm Muộn, Lào", "Bô-ly-khăm-xay, Lào"),
        ("Souksavanh Phommachanh", "Khamphone Sisavath", "Bounmy Vongsa"),
        ("Phonevilay Keomany", "Souphaphone Sengdara"),
    ),
)
# Grave, acute, tilde, hook above, dot below: the tones Windows-1258 writes as combining marks.
_TONE_MARKS: Final = frozenset("\u0300\u0301\u0303\u0309\u0323")
# Admin-unit types, longest first, lower-cased inside running text ("UBND xã Thạch Hạ").
_UNIT_TYPES: tuple[str, ...] = ("Thành phố", "Thị trấn", "Thị xã", "Phường", "Huyện", "Xã")


def simulate_civil_status(
    out_dir: Path,
    records: int,
    defect_rate: float,
    seed: int = 42,
    *,
    start: datetime | None = None,
    population: Path | None = None,
) -> SimulationManifest:
    """Write a simulated Hà Tĩnh civil-status export directory and its manifest.

    Args:
        out_dir: Directory for the CSV exports, ``encodings.json``, ``answer_key.csv`` and
            ``manifest.json``; created if missing. Exports of an earlier run there are removed.
        records: Registrations in all, at least 0; about 55% births, 27% deaths, the rest
            marriages.
        defect_rate: Share of records to spoil, between 0 and 1; exactly
            ``round(records * defect_rate)`` records get one defect each.
        seed: Seed for the random generator; equal arguments give byte-identical files.
        start: Simulated "now" (a naive value is taken as UTC), not before 2000-01-01. The
            exports cover the 30 days (Vietnam time) before its day. Defaults to the start of
            today (UTC).
        population: The population register to name people from: the population
            simulator's output directory or database. Defaults to the sibling directory
            ``population`` of ``out_dir`` if it holds one; without a register everyone is
            invented. Equal arguments and an equal register give byte-identical files.

    Returns:
        The manifest, also written to ``out_dir/manifest.json``. Its ``source`` names the
        directory (``"."``), the file pattern of each event type (``births``, ``marriages``,
        ``deaths``), ``encodings``, ``answer_key`` and, if one was used, the ``register``
        (its database, relative to ``out_dir``).

    Raises:
        ValueError: If ``records`` is not an integer >= 0, ``defect_rate`` is not a number
            between 0 and 1, or ``start`` is before 2000-01-01.
        RegisterError: If ``population`` names no readable population database.
    """
    start_utc = simulation_start(records, defect_rate, start)
    register = find_register(out_dir, population)

    births = round(records * BIRTH_SHARE)
    deaths = min(round(records * DEATH_SHARE), records - births)
    counts = {BIRTH: births, MARRIAGE: records - births - deaths, DEATH: deaths}
    builder = _CivilStatusBuilder(random.Random(seed), load_admin_units(), start_utc, register)
    events = builder.build(counts, round(records * defect_rate))

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for pattern in FILE_PATTERNS.values():
        for stale in out_dir.glob(pattern):
            stale.unlink()
    key_rows, encodings = _write_exports(out_dir, events, builder.rng)
    _write_json(out_dir / ENCODINGS_FILE, encodings)
    _write_answer_key(out_dir / ANSWER_KEY_FILE, key_rows)

    source = {
        "directory": ".",
        "births": FILE_PATTERNS[BIRTH],
        "marriages": FILE_PATTERNS[MARRIAGE],
        "deaths": FILE_PATTERNS[DEATH],
        "encodings": ENCODINGS_FILE,
        "answer_key": ANSWER_KEY_FILE,
    }
    if register is not None:
        source["register"] = register_location(out_dir, population)
    datasets: dict[str, DatasetTally] = {}
    for dataset in DATASETS:
        spoiled = Counter(row["kind"] for row in key_rows if row["dataset"] == dataset)
        datasets[dataset] = DatasetTally(
            records=counts[dataset],
            defects_injected=sum(spoiled.values()),
            defects_by_kind={kind: spoiled[kind] for kind in DEFECT_KINDS[dataset]},
        )
    manifest = SimulationManifest(
        system=SYSTEM,
        datasets=datasets,
        seed=seed,
        defect_rate=float(defect_rate),
        start=start_utc,
        created_at=datetime.now(UTC),
        source=source,
    )
    manifest.write(out_dir)
    return manifest


def legacy_files(out_dir: Path) -> list[str]:
    """Names of the exports a simulator run wrote in Windows-1258, from its ``encodings.json``.

    Args:
        out_dir: The directory :func:`simulate_civil_status` wrote.
    """
    encodings = json.loads((Path(out_dir) / ENCODINGS_FILE).read_text(encoding="utf-8"))
    return sorted(name for name, label in encodings.items() if label == CP1258)


def cp1258_bytes(text: str) -> bytes:
    """``text`` in Windows-1258, as the legacy software writes it.

    The code page has the letters â, ă, ê, ô, ơ, ư, đ and a few toned Latin-1 ones; any other
    tone is a combining mark after its letter, so ``ộ`` is ``ô`` + U+0323.

    Raises:
        UnicodeEncodeError: If a character has no Windows-1258 spelling.
    """
    out = bytearray()
    for char in text:
        try:
            out += char.encode(CP1258)
            continue
        except UnicodeEncodeError:
            pass
        # NFD puts a dot below before a circumflex, so split tones from the letter by kind.
        parts = unicodedata.normalize("NFD", char)
        letter = unicodedata.normalize("NFC", "".join(c for c in parts if c not in _TONE_MARKS))
        tones = "".join(c for c in parts if c in _TONE_MARKS)
        try:
            out += letter.encode(CP1258) + tones.encode(CP1258)
        except UnicodeEncodeError as exc:
            raise UnicodeEncodeError(CP1258, char, 0, 1, "no Windows-1258 spelling") from exc
    return bytes(out)


# --- places and offices ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Commune:
    """A commune of the list in force on some date, with the text that names it in addresses."""

    code: str
    name: str  # "Xã Thạch Hạ"
    district_code: str | None  # None in the two-level system
    district: str | None  # "Huyện Can Lộc"
    suffix: str  # "Xã Thạch Hạ, Huyện Can Lộc, Tỉnh Hà Tĩnh"
    rural: bool


@dataclass(frozen=True)
class _Office:
    """A civil-status registering authority: a commune's or a district's People's Committee."""

    agency_id: str
    name: str
    commune: _Commune | None


@dataclass(frozen=True)
class _Offices:
    communes: list[_Office]
    districts: list[_Office]
    by_commune: dict[str, _Office]  # commune code -> its People's Committee
    by_district: dict[str, _Office]  # district code -> its People's Committee


def _tidy(name: str) -> str:
    # The published lists contain stray double spaces ("Thị trấn  Tây Sơn").
    return " ".join(name.split())


def _in_text(name: str) -> str:
    """A unit name as running text writes it: ``Xã Thạch Hạ`` -> ``xã Thạch Hạ``."""
    for unit_type in _UNIT_TYPES:
        if name.startswith(f"{unit_type} "):
            return unit_type.lower() + name[len(unit_type) :]
    return name


class _Geography:
    """Hà Tĩnh's communes and registering offices, and other provinces' communes, by date."""

    def __init__(self, units: AdminUnits) -> None:
        self.units = units
        self.all_codes = {unit.code for unit in units if unit.level == "commune"}
        self._communes: dict[tuple[str, str], dict[str, _Commune]] = {}
        self._offices: dict[str, _Offices] = {}

    def _by_code(self, province: str, on: date) -> dict[str, _Commune]:
        list_id = self.units.list_for(on).list_id
        found = self._communes.get((province, list_id))
        if found is None:
            found = {}
            province_unit = self.units.get(province, "province", on)
            if province_unit is not None:
                for unit in sorted(self.units.units("commune", on, province), key=_code):
                    district = None
                    if unit.district_code is not None:
                        district_unit = self.units.get(unit.district_code, "district", on)
                        district = _tidy(district_unit.name) if district_unit else None
                    names = [_tidy(unit.name), district, _tidy(province_unit.name)]
                    found[unit.code] = _Commune(
                        unit.code,
                        _tidy(unit.name),
                        unit.district_code,
                        district,
                        ", ".join(name for name in names if name),
                        unit.name.startswith("Xã"),
                    )
            self._communes[(province, list_id)] = found
        return found

    def communes(self, province: str, on: date) -> list[_Commune]:
        """Communes of ``province`` in the list in force on ``on``, by code."""
        return list(self._by_code(province, on).values())

    def commune(self, code: str, on: date) -> _Commune | None:
        """Hà Tĩnh's commune ``code`` if the list in force on ``on`` has it."""
        return self._by_code(PROVINCE_CODE, on).get(code)

    def offices(self, on: date) -> _Offices:
        """Hà Tĩnh's registering offices in the list in force on ``on``."""
        list_id = self.units.list_for(on).list_id
        found = self._offices.get(list_id)
        if found is not None:
            return found
        communes = self.communes(PROVINCE_CODE, on)
        districts = sorted(self.units.units("district", on, PROVINCE_CODE), key=_code)
        agency = PROVINCE_AGENCY
        if districts:
            level2 = {
                unit.code: DISTRICT_LEVEL2_FROM + index for index, unit in enumerate(districts)
            }
            within: Counter[str] = Counter()  # communes numbered within their district
            commune_offices = []
            for commune in communes:
                district_code = commune.district_code or ""
                within[district_code] += 1
                commune_offices.append(
                    _Office(
                        f"000.{within[district_code]:02d}.{level2[district_code]:02d}.{agency}",
                        f"UBND {_in_text(commune.name)}",
                        commune,
                    )
                )
            by_district: dict[str, _Office] = {
                unit.code: _Office(
                    f"000.00.{level2[unit.code]:02d}.{agency}",
                    f"UBND {_in_text(_tidy(unit.name))}",
                    None,
                )
                for unit in districts
            }
        else:
            commune_offices = [
                _Office(
                    f"000.{index % 100:02d}.{COMMUNE_LEVEL2_FROM_2025 + index // 100:02d}.{agency}",
                    f"UBND {_in_text(commune.name)}",
                    commune,
                )
                for index, commune in enumerate(communes, start=1)
            ]
            by_district = {}
        found = self._offices[list_id] = _Offices(
            commune_offices,
            list(by_district.values()),
            {office.commune.code: office for office in commune_offices if office.commune},
            by_district,
        )
        return found

    def unknown_code(self, rng: random.Random, on: date, variant: int) -> tuple[str, str]:
        """A commune code the list in force on ``on`` lacks, and how it came about."""
        if variant % 3 == 2 and on >= LIST_CHANGE:
            # A code from before the 2025 reform, still in an office's templates.
            before = self._by_code(PROVINCE_CODE, LIST_CHANGE - timedelta(days=1))
            stale = sorted(set(before) - set(self._by_code(PROVINCE_CODE, on)))
            if stale:
                return rng.choice(stale), "pre-2025 code"
        if variant % 3 == 1:
            while True:
                code = f"{rng.randrange(10_000, 100_000):05d}"
                if code not in self.all_codes:
                    return code, "no such code"
        return UNKNOWN_COMMUNE_CODE, "placeholder code"


def _code(unit: AdminUnit) -> str:
    return unit.code


# --- events ----------------------------------------------------------------------------------


@dataclass
class _Event:
    """One registration as the export writes it, and what was done to it."""

    dataset: str
    entered: datetime  # UTC; the export day and the update time
    values: dict[str, str]
    office: _Office
    registered: date
    kind: str | None = None
    variant: int = 0
    detail: str = ""
    number: str = ""

    @property
    def book(self) -> str:
        return self.values["Quyển số"]

    @property
    def key(self) -> str:
        # As the runner joins the catalogue key: agency e-ID | book | number.
        return f"{self.office.agency_id}|{self.book}|{self.number}"


def _vi_date(day: date) -> str:
    return f"{day:%d/%m/%Y}"


class _CivilStatusBuilder:
    """Generates the registrations of the export window, then numbers them per book."""

    def __init__(
        self,
        rng: random.Random,
        units: AdminUnits,
        start: datetime,
        register: PopulationRegister | None = None,
    ) -> None:
        self.rng = rng
        self.geo = _Geography(units)
        self.issuer = ids.PersonalIdIssuer(rng)
        self.register = register or PopulationRegister(())
        # Nobody invented here may receive an id a resident of the register holds.
        self.issuer.reserve(self.register.issued)
        self.named: set[str] = set()  # residents this export names as parent, spouse, ...
        self.married: set[str] = set()  # residents whose marriage this export registers
        self.births_of: dict[str, list[date]] = {}  # mother's id -> births in this export
        self.deaths: list[tuple[Resident, date]] = []  # residents registered dead once, and when
        last_day = start.astimezone(VN_TZ).date() - timedelta(days=1)
        self.days = [last_day - timedelta(days=back) for back in range(EXPORT_DAYS - 1, -1, -1)]
        self.day_weights = list(accumulate(WEEKDAY_WEIGHTS[day.weekday()] for day in self.days))
        provinces, weights = zip(*OTHER_PROVINCES, strict=True)
        self.other_provinces: tuple[str, ...] = provinces
        self.other_weights = list(accumulate(weights))

    # -- helpers --------------------------------------------------------------------------

    def _pick(self, items: Sequence[T]) -> T:
        return items[int(self.rng.random() * len(items))]

    def _days(self, low: int, high: int) -> timedelta:
        return timedelta(days=self.rng.randint(low, high))

    def _birth_province(self) -> str:
        if self.rng.random() < BORN_IN_PROVINCE_SHARE:
            return PROVINCE_CODE
        return self.rng.choices(self.other_provinces, cum_weights=self.other_weights)[0]

    def _person_id(self, birth_year: int, female: bool, province: str | None = None) -> str:
        return self.issuer.issue(province or self._birth_province(), birth_year, female)

    def _born_aged(self, on: date, age: int) -> date:
        """A birth date on which someone is exactly ``age`` full years old on ``on``."""
        while True:
            born = on - timedelta(days=int((age + self.rng.random()) * 365.2425))
            if age_on(born, on) == age and born.year >= ids.FIRST_ID_YEAR:
                return born

    def _address(self, commune: _Commune) -> str:
        rand = self.rng.random
        if commune.rural:
            if rand() < 0.7:
                return f"Thôn {self._pick(vn.VILLAGES)}, {commune.suffix}"
            return f"Xóm {1 + int(rand() * 15)}, {commune.suffix}"
        roll = rand()
        if roll < 0.5:
            street = self._pick(vn.STREETS)
            return f"Số {1 + int(rand() * 250)} đường {street}, {commune.suffix}"
        if roll < 0.8:
            return f"Tổ dân phố {1 + int(rand() * 20)}, {commune.suffix}"
        return f"Ngõ {1 + int(rand() * 60)} đường {self._pick(vn.STREETS)}, {commune.suffix}"

    def _hospital(self, commune: _Commune) -> str:
        if commune.district is not None:
            return f"Bệnh viện Đa khoa {_in_text(commune.district)}"
        return "Bệnh viện Đa khoa tỉnh Hà Tĩnh"

    def _near(self, office: _Office, on: date) -> _Commune:
        """The office's commune if it is valid on ``on``, else a Hà Tĩnh commune that is."""
        if office.commune is not None:
            same = self.geo.commune(office.commune.code, on)
            if same is not None:
                return same
        return self._pick(self.geo.communes(PROVINCE_CODE, on))

    def _office(
        self, registered: date, district_level: bool, home: Resident | None = None
    ) -> _Office:
        """The authority a registration goes to: the one where ``home`` lives, if any.

        A commune the list in force on ``registered`` no longer has (the 2025 reform) leaves
        the registration to any of the province's authorities.
        """
        offices = self.geo.offices(registered)
        commune = self.geo.commune(home.commune_code, registered) if home is not None else None
        if district_level and offices.districts:
            office = offices.by_district.get(commune.district_code or "") if commune else None
            return office or self._pick(offices.districts)
        office = offices.by_commune.get(commune.code) if commune else None
        return office or self._pick(offices.communes)

    def _residence(self, person: Resident, on: date, office: _Office) -> tuple[str, str]:
        """Address and commune code of a resident on ``on``, as a registration writes them.

        The register's, if its commune is in the list in force on ``on``; a code the 2025
        reform retired is written as a commune of the registering office's area instead.
        """
        if self.geo.commune(person.commune_code, on) is not None:
            return person.address, person.commune_code
        commune = self._near(office, on)
        return self._address(commune), commune.code

    def _common(
        self, office: _Office, registered: date, kind: str, entered: datetime
    ) -> dict[str, str]:
        return {
            "Quyển số": f"01/{registered.year}",
            "Ngày đăng ký": _vi_date(registered),
            "Loại đăng ký": REGISTRATION_TYPES[kind],
            "Cơ quan đăng ký": office.name,
            "Mã định danh cơ quan đăng ký": office.agency_id,
            "Mã xã cơ quan đăng ký": office.commune.code if office.commune else "",
            UPDATED_COLUMN: f"{entered.astimezone(VN_TZ):%d/%m/%Y %H:%M:%S}",
        }

    def _spoil_commune(self, event: _Event, column: str, on: date) -> None:
        code, how = self.geo.unknown_code(self.rng, on, event.variant // 2)
        event.values[column] = code
        event.detail = f"{column} {code} ({how})"

    def _spoil_id(self, event: _Event, column: str) -> None:
        wrong, how = self.issuer.mismatched(event.values[column], event.variant)
        event.values[column] = wrong
        event.detail = f"{column} {wrong} ({how})"

    # -- generation -----------------------------------------------------------------------

    def build(self, counts: dict[str, int], spoiled: int) -> list[_Event]:
        """Generate every dataset's events, ``spoiled`` of them with one defect each."""
        total = 0
        offsets: dict[str, int] = {}  # each dataset's first index in the sample space
        for dataset in DATASETS:
            offsets[dataset] = total
            total += counts[dataset]
        kinds: dict[str, dict[int, tuple[str, int]]] = {dataset: {} for dataset in DATASETS}
        dealt: Counter[str] = Counter()
        # Spoiled records are a random sample over all registrations; within a dataset the
        # kinds are dealt round-robin, so their counts differ by at most one.
        for index in self.rng.sample(range(total), spoiled):
            dataset = next(d for d in reversed(DATASETS) if index >= offsets[d])
            dataset_kinds = DEFECT_KINDS[dataset]
            turn = dealt[dataset]
            dealt[dataset] += 1
            kind = dataset_kinds[turn % len(dataset_kinds)]
            kinds[dataset][index - offsets[dataset]] = (kind, turn // len(dataset_kinds))
        make: dict[str, Callable[[datetime, str | None, int], _Event]] = {
            BIRTH: self._birth,
            MARRIAGE: self._marriage,
            DEATH: self._death,
        }
        events: list[_Event] = []
        for dataset in DATASETS:
            entered = sorted(self._entry_time() for _ in range(counts[dataset]))
            batch = []
            for index, moment in enumerate(entered):
                kind, variant = kinds[dataset].get(index, (None, 0))
                batch.append(make[dataset](moment, kind, variant))
            self._number(dataset, batch)
            events.extend(batch)
        return events

    def _entry_time(self) -> datetime:
        day = self.rng.choices(self.days, cum_weights=self.day_weights)[0]
        opened = datetime.combine(day, OFFICE_OPENS, tzinfo=VN_TZ)
        return (opened + timedelta(seconds=self.rng.randrange(OFFICE_HOURS_S))).astimezone(UTC)

    def _number(self, dataset: str, events: list[_Event]) -> None:
        """Registration numbers per office and book, in entry order, after earlier entries."""
        last: dict[tuple[str, str], int] = {}
        for event in events:
            book = (event.office.agency_id, event.book)
            if book not in last:
                day_of_year = event.registered.timetuple().tm_yday
                last[book] = int(self.rng.random() * day_of_year * BOOK_DAILY_RATE[dataset])
            last[book] += 1
            event.number = str(last[book])
            event.values["Số đăng ký"] = event.number

    def _birth(self, entered: datetime, kind: str | None, variant: int) -> _Event:
        rng = self.rng
        day = entered.astimezone(VN_TZ).date()
        roll = rng.random()
        if roll < 0.86:
            registration_type, age_days = "ON_TIME", (0, 60)
        elif roll < 0.95:
            registration_type = "LATE"
            age_days = (61, 730) if rng.random() < 0.85 else (731, 17 * 365)
        elif roll < 0.98:
            registration_type, age_days = "RE_REGISTRATION", (18 * 365, 70 * 365)
        else:
            registration_type, age_days = "FOREIGN_ELEMENT", (0, 60)
        born = day - self._days(*age_days)
        foreign = registration_type == "FOREIGN_ELEMENT"
        female = rng.random() < 0.488  # Vietnam's sex ratio at birth is about 112 boys to 100
        foreigner = self._pick(FOREIGNERS) if foreign else None
        mother_foreign = foreigner is not None and foreigner.country == "Lào"
        father_foreign = foreigner is not None and not mother_foreign
        has_mother = rng.random() >= 0.003
        has_father = father_foreign or rng.random() >= 0.06

        # A late or repeated registration is of a child born long ago: often a resident
        # already, with the parents the register links.
        child: Resident | None = None
        if registration_type in ("LATE", "RE_REGISTRATION") and rng.random() < REGISTER_CHILD_SHARE:
            child = self._registered_child(day, age_days)
        mother_of: Resident | None = None
        father_of: Resident | None = None
        if child is not None:
            born, female = child.born, child.female
            mother_of = self.register.get(child.mother_id)
            father_of = self.register.get(child.father_id)
            has_mother, has_father = True, father_of is not None
        else:
            if has_mother and not mother_foreign and rng.random() < REGISTER_MOTHER_SHARE:
                mother_of = self._mother(born, unmarried=father_foreign)
            if mother_of is not None and mother_of.spouse_id is not None:
                father_of = self.register.get(mother_of.spouse_id)
                has_father = father_of is not None
            elif (
                has_father
                and not father_foreign
                and (mother_of is not None or mother_foreign)
                and rng.random() < REGISTER_FATHER_SHARE
            ):
                father_of = self._father(born)
        for parent in (mother_of, father_of):
            if parent is not None:
                self.named.add(parent.personal_id)
        if mother_of is not None and child is None:
            # A resident child's birth is among the register's births already.
            self.births_of.setdefault(mother_of.personal_id, []).append(born)

        registered = day
        if kind == "registered_before_birth":
            # The clerk typed a registration date before the birth.
            registered = born - self._days(1, 20)
        office = self._office(registered, foreign, mother_of or father_of)

        mother_year = max(ids.FIRST_ID_YEAR, born.year - rng.randint(18, 42))
        father_year = max(ids.FIRST_ID_YEAR, mother_year - rng.randint(-2, 8))
        vietnamese_father = has_father and not father_foreign
        # A child without a Vietnamese father on record carries the mother's family name.
        if father_of is not None:
            family = father_of.family_name
        elif not vietnamese_father and mother_of is not None:
            family = mother_of.family_name
        else:
            family = ids.family_name(rng)
        known = father_of or mother_of
        ethnic = known.ethnicity if known is not None else ids.ethnicity(rng)
        values = self._common(office, registered, registration_type, entered)
        mother = father = ("", "", "")
        if has_mother:
            if mother_foreign and foreigner is not None:
                mother = (self._pick(foreigner.women), "", foreigner.country)
            elif mother_of is not None:
                mother = (mother_of.full_name, mother_of.personal_id, VIETNAM)
            else:
                mother_family = family if not vietnamese_father else ids.family_name(rng)
                mother = (
                    ids.full_name(rng, mother_family, True, mother_year),
                    self._person_id(mother_year, True),
                    VIETNAM,
                )
        if has_father:
            if father_foreign and foreigner is not None:
                father = (self._pick(foreigner.men), "", foreigner.country)
            elif father_of is not None:
                father = (father_of.full_name, father_of.personal_id, VIETNAM)
            else:
                father = (
                    ids.full_name(rng, family, False, father_year),
                    self._person_id(father_year, False),
                    VIETNAM,
                )
        if foreigner is not None and rng.random() < 0.25:
            place_code, place = "", self._pick(foreigner.places)
        else:
            commune = self._near(office, born)
            place_code = commune.code
            facility = rng.random()
            if facility < 0.6:
                place = f"{self._hospital(commune)}, {commune.suffix}"
            elif facility < 0.9:
                place = f"Trạm Y tế {_in_text(commune.suffix)}"
            else:
                place = self._address(commune)
        if child is not None:
            self.named.add(child.personal_id)
            child_name, child_id, ethnic = child.full_name, child.personal_id, child.ethnicity
        else:
            child_name = ids.full_name(rng, family, female, born.year)
            # Registered in Hà Tĩnh, so a newborn's id carries Hà Tĩnh's code; a few children
            # got none (registered while the population database was unreachable).
            child_id = ""
            if kind == "id_birth_mismatch" or rng.random() >= 0.02:
                child_id = self._person_id(born.year, female, PROVINCE_CODE)
        values.update(
            {
                "Họ và tên": child_name,
                "Giới tính": GENDERS[female],
                "Ngày sinh": _vi_date(born),
                "Nơi sinh": place,
                "Mã xã nơi sinh": place_code,
                "Dân tộc": ethnic,
                "Quốc tịch": VIETNAM,
                "Số định danh cá nhân": child_id,
                "Họ và tên mẹ": mother[0],
                "Số định danh của mẹ": mother[1],
                "Quốc tịch của mẹ": mother[2],
                "Họ và tên cha": father[0],
                "Số định danh của cha": father[1],
                "Quốc tịch của cha": father[2],
            }
        )
        event = _Event(BIRTH, entered, values, office, registered, kind, variant)
        if kind == "id_birth_mismatch":
            self._spoil_id(event, "Số định danh cá nhân")
        elif kind == "unknown_commune":
            if variant % 2 == 0 or not place_code:
                self._spoil_commune(event, "Mã xã cơ quan đăng ký", registered)
            else:
                self._spoil_commune(event, "Mã xã nơi sinh", born)
        elif kind == "registered_before_birth":
            event.detail = f"registered {_vi_date(registered)}, born {_vi_date(born)}"
        return event

    def _registered_child(self, day: date, age_days: tuple[int, int]) -> Resident | None:
        """A resident born ``age_days`` before ``day`` whose mother the register holds."""
        earliest, latest = day - timedelta(days=age_days[1]), day - timedelta(days=age_days[0])

        def fits(child: Resident) -> bool:
            return (
                earliest <= child.born <= latest
                and child.mother_id in self.register
                and child.personal_id not in self.named
            )

        ages = (age_on(latest, day), age_on(earliest, day))
        return self.register.draw(self.rng, on=day, ages=ages, accept=fits)

    def _mother(self, born: date, *, unmarried: bool) -> Resident | None:
        """A resident who can have given birth on ``born``, if one turns up.

        Mothers are mostly married; once the register's married women are used up, any
        woman who can have given birth then will do.
        """

        def can_give_birth(mother: Resident) -> bool:
            # Twins share a birthday; otherwise a mother's children are months apart.
            births = self.register.children_born(mother.personal_id)
            births += self.births_of.get(mother.personal_id, [])
            return all(
                other == born or abs((born - other).days) >= BIRTH_SPACING_DAYS for other in births
            )

        def single(mother: Resident) -> bool:
            return mother.spouse_id is None and can_give_birth(mother)

        def likely(mother: Resident) -> bool:
            if mother.spouse_id is None and self.rng.random() >= UNMARRIED_MOTHER_SHARE:
                return False
            return can_give_birth(mother)

        draw = partial(self.register.draw, self.rng, on=born, ages=MOTHER_AGES, female=True)
        if unmarried:
            return draw(accept=single)
        return draw(accept=likely) or draw(accept=can_give_birth)

    def _father(self, born: date) -> Resident | None:
        """An unmarried resident who can be a child's father, if one turns up."""

        def fits(father: Resident) -> bool:
            return father.spouse_id is None and father.personal_id not in self.named

        return self.register.draw(self.rng, on=born, ages=FATHER_AGES, female=False, accept=fits)

    def _spouse(
        self,
        registered: date,
        office: _Office,
        female: bool,
        age: int,
        foreigner: _Foreign | None,
        stays_local: float,
    ) -> dict[str, str]:
        """A spouse the register does not hold: a foreigner or someone invented."""
        rng = self.rng
        born = self._born_aged(registered, age)
        side = "vợ" if female else "chồng"
        if foreigner is not None:
            return {
                f"Họ và tên {side}": self._pick(foreigner.women if female else foreigner.men),
                f"Ngày sinh {side}": _vi_date(born),
                f"Dân tộc {side}": foreigner.ethnicity,
                f"Quốc tịch {side}": foreigner.country,
                f"Số định danh {side}": "",
                f"Nơi cư trú {side}": self._pick(foreigner.places),
                f"Mã xã cư trú {side}": "",
            }
        roll = rng.random()
        if roll < stays_local and office.commune is not None:
            commune = office.commune
        elif roll < 0.88:
            commune = self._pick(self.geo.communes(PROVINCE_CODE, registered))
        else:
            province = rng.choices(self.other_provinces, cum_weights=self.other_weights)[0]
            communes = self.geo.communes(province, registered) or self.geo.communes(
                PROVINCE_CODE, registered
            )
            commune = self._pick(communes)
        return {
            f"Họ và tên {side}": ids.full_name(rng, ids.family_name(rng), female, born.year),
            f"Ngày sinh {side}": _vi_date(born),
            f"Dân tộc {side}": ids.ethnicity(rng),
            f"Quốc tịch {side}": VIETNAM,
            f"Số định danh {side}": self._person_id(born.year, female),
            f"Nơi cư trú {side}": self._address(commune),
            f"Mã xã cư trú {side}": commune.code,
        }

    def _resident_spouse(
        self, registered: date, office: _Office, spouse: Resident
    ) -> dict[str, str]:
        """A spouse as the register holds them, living where it says if that is still valid."""
        side = "vợ" if spouse.female else "chồng"
        address, commune_code = self._residence(spouse, registered, office)
        return {
            f"Họ và tên {side}": spouse.full_name,
            f"Ngày sinh {side}": _vi_date(spouse.born),
            f"Dân tộc {side}": spouse.ethnicity,
            f"Quốc tịch {side}": VIETNAM,
            f"Số định danh {side}": spouse.personal_id,
            f"Nơi cư trú {side}": address,
            f"Mã xã cư trú {side}": commune_code,
        }

    def _single(self, registered: date, female: bool, age: int) -> Resident | None:
        """An unmarried resident of about ``age`` who may marry on ``registered``."""
        if self.rng.random() >= REGISTER_SPOUSE_SHARE:
            return None
        legal = MIN_MARRIAGE_AGE[female]

        def fits(single: Resident) -> bool:
            # A parent of this month's child may well marry this month too.
            return single.spouse_id is None and single.personal_id not in self.married

        draw = partial(self.register.draw, self.rng, on=registered, female=female, accept=fits)
        # Near the age drawn if the register has someone free; else anyone who may marry.
        return draw(ages=(max(legal, age - SPOUSE_AGE_SLACK), age + SPOUSE_AGE_SLACK)) or draw(
            ages=(legal, SINGLE_OLDEST)
        )

    def _couple(self, registered: date) -> tuple[Resident, Resident] | None:
        """A married couple of the register, to register their marriage again."""

        def fits(husband: Resident) -> bool:
            wife = self.register.get(husband.spouse_id)
            return (
                wife is not None
                and wife.age_on(registered) >= MIN_MARRIAGE_AGE[True]
                and not {husband.personal_id, wife.personal_id} & self.married
            )

        ages = (MIN_MARRIAGE_AGE[False] + 3, 85)
        husband = self.register.draw(self.rng, on=registered, ages=ages, female=False, accept=fits)
        if husband is None:
            return None
        wife = self.register.get(husband.spouse_id)
        return None if wife is None else (husband, wife)

    def _marriage(self, entered: datetime, kind: str | None, variant: int) -> _Event:
        rng = self.rng
        registered = entered.astimezone(VN_TZ).date()
        roll = rng.random()
        registration_type = (
            "FOREIGN_ELEMENT" if roll < 0.03 else "RE_REGISTRATION" if roll < 0.04 else "ON_TIME"
        )
        foreign = registration_type == "FOREIGN_ELEMENT"
        # Men marry from 20, women from 18 (Law on Marriage and Family, Article 8), most in
        # their twenties; a re-registered marriage is years old.
        husband_age = 20 + min(45, int(rng.lognormvariate(1.7, 0.6)))
        wife_age = 18 + min(40, int(rng.lognormvariate(1.55, 0.6)))
        if registration_type == "RE_REGISTRATION":
            # At most 40 years married, so everyone was born after 1900 from 2000 on.
            married_years = rng.randint(3, 40)
            husband_age = min(husband_age + married_years, 85)
            wife_age = min(wife_age + married_years, 80)
        if kind == "under_age":
            if variant % 2 == 0:
                husband_age = rng.randint(18, 19)
            else:
                wife_age = rng.randint(16, 17)
        foreigner = self._pick(FOREIGNERS) if foreign else None
        # Lao brides; otherwise the foreign spouse is the husband.
        foreign_wife = foreigner is not None and foreigner.country == "Lào"
        foreign_husband = foreigner is not None and not foreign_wife

        # The register holds no one under age, so a spouse spoiled so is invented.
        husband: Resident | None = None
        wife: Resident | None = None
        if registration_type == "RE_REGISTRATION" and kind != "under_age":
            couple = self._couple(registered)
            if couple is not None:
                husband, wife = couple
        else:
            if not foreign_husband and not (kind == "under_age" and variant % 2 == 0):
                husband = self._single(registered, False, husband_age)
            if not foreign_wife and not (kind == "under_age" and variant % 2 == 1):
                wife = self._single(registered, True, wife_age)
        for spouse in (husband, wife):
            if spouse is not None:
                self.named.add(spouse.personal_id)
                self.married.add(spouse.personal_id)
        if husband is not None:
            husband_age = husband.age_on(registered)
        if wife is not None:
            wife_age = wife.age_on(registered)
        # Couples usually register at the bride's commune.
        office = self._office(registered, foreign, wife or husband)
        values = self._common(office, registered, registration_type, entered)
        if husband is not None:
            values.update(self._resident_spouse(registered, office, husband))
        else:
            values.update(
                self._spouse(
                    registered,
                    office,
                    False,
                    husband_age,
                    foreigner if foreign_husband else None,
                    0.45,
                )
            )
        if wife is not None:
            values.update(self._resident_spouse(registered, office, wife))
        else:
            values.update(
                self._spouse(
                    registered, office, True, wife_age, foreigner if foreign_wife else None, 0.6
                )
            )
        event = _Event(MARRIAGE, entered, values, office, registered, kind, variant)
        if kind == "id_birth_mismatch":
            # Foreign spouses have no id to spoil.
            sides = [side for side in ("chồng", "vợ") if values[f"Số định danh {side}"]]
            self._spoil_id(event, f"Số định danh {sides[variant % len(sides)]}")
        elif kind == "unknown_commune":
            column = ("Mã xã cơ quan đăng ký", "Mã xã cư trú chồng", "Mã xã cư trú vợ")[variant % 3]
            if not values[column]:
                column = "Mã xã cơ quan đăng ký"
            self._spoil_commune(event, column, registered)
        elif kind == "under_age":
            side = "chồng" if variant % 2 == 0 else "vợ"
            event.detail = f"{side} {husband_age if side == 'chồng' else wife_age} years old"
        return event

    def _deceased(self, died: date, ages: tuple[int, int]) -> Resident | None:
        """A resident of an age in ``ages`` on ``died`` who is free to die then.

        A small register runs out of the very old first: then someone up to
        :data:`DEATH_AGE_FALLBACK` years younger will do.
        """

        def fits(person: Resident) -> bool:
            # Whoever this export names as a parent or spouse is alive in it.
            return person.personal_id not in self.named

        draw = partial(self.register.draw, self.rng, on=died, accept=fits)
        youngest, oldest = ages
        return draw(ages=ages) or draw(ages=(max(0, youngest - DEATH_AGE_FALLBACK), oldest))

    def _death(self, entered: datetime, kind: str | None, variant: int) -> _Event:
        rng = self.rng
        day = entered.astimezone(VN_TZ).date()
        roll = rng.random()
        if roll < 0.9:
            registration_type, died = "ON_TIME", day - self._days(0, 15)
        elif roll < 0.97:
            registration_type, died = "LATE", day - self._days(16, 1000)
        elif roll < 0.98:
            registration_type, died = "RE_REGISTRATION", day - self._days(2 * 365, 30 * 365)
        else:
            registration_type, died = "FOREIGN_ELEMENT", day - self._days(5, 60)
        low, high, _ = rng.choices(
            DEATH_AGE_BANDS, cum_weights=list(accumulate(w for _, _, w in DEATH_AGE_BANDS))
        )[0]
        age = rng.randrange(low, high)

        # A death typed before the birth is of someone invented: a resident's real birth date
        # would leave the id disagreeing with the typed one. A death re-registered years on
        # is of someone the register no longer holds.
        deceased: Resident | None = None
        from_register = kind != "death_before_birth" and registration_type != "RE_REGISTRATION"
        if from_register and self.deaths and rng.random() < DUPLICATE_DEATH_SHARE:
            # Registered twice (at the hospital's commune and at home): already dead. Once
            # is a clerk's slip; a third registration of the same death would not happen.
            deceased, died = self.deaths.pop(int(rng.random() * len(self.deaths)))
            if registration_type != "FOREIGN_ELEMENT":
                registration_type = "ON_TIME" if (day - died).days <= 15 else "LATE"
        elif from_register and rng.random() < REGISTER_DECEASED_SHARE:
            deceased = self._deceased(died, (low, high - 1))
            if deceased is not None and kind is None:
                self.deaths.append((deceased, died))
        if deceased is not None:
            self.named.add(deceased.personal_id)
            age = deceased.age_on(died)

        registered = day
        if kind == "registered_before_death":
            registered = died - self._days(1, 15)
        foreign = registration_type == "FOREIGN_ELEMENT"
        office = self._office(registered, foreign, deceased)

        if deceased is not None:
            born, female = deceased.born, deceased.female
        else:
            born = died - timedelta(days=int((age + rng.random()) * 365.2425))
            if born.year < ids.FIRST_ID_YEAR:
                born = date(ids.FIRST_ID_YEAR, born.month, min(born.day, 28))
            if kind == "death_before_birth":
                # A birth date typed after the death.
                born = died + self._days(1, 400)
            female = rng.random() < 0.45
        known_birth = kind in ("death_before_birth", "id_birth_mismatch") or rng.random() >= 0.03
        has_id = kind == "id_birth_mismatch" or rng.random() >= 0.05
        causes = next(table for limit, table in CAUSES_OF_DEATH if age < limit)
        cause = ""
        if rng.random() >= 0.1:
            cause = rng.choices([c for c, _ in causes], weights=[w for _, w in causes])[0]

        notice_number, notice_issuer = "", ""
        if foreign:
            # Hà Tĩnh workers who died abroad; the mission there reports the death.
            country = self._pick([f for f in FOREIGNERS if f.country != "Trung Quốc"])
            place_code, place = "", self._pick(country.places)
            notice_number = f"{rng.randint(1, 400)}/BT"
            notice_issuer = f"Cơ quan đại diện Việt Nam tại {country.country}"
        else:
            commune = self._near(office, died)
            place_code = commune.code
            if rng.random() < 0.3:
                hospital = self._hospital(commune)
                place = f"{hospital}, {commune.suffix}"
                notice_number, notice_issuer = f"{rng.randint(1, 2500)}/GBT", hospital
            else:
                place = self._address(commune)
                if rng.random() < 0.6:
                    notice_number = f"{rng.randint(1, 300)}/GBT"
                    notice_issuer = f"UBND {_in_text(commune.name)}"
        if deceased is not None:
            name, ethnic = deceased.full_name, deceased.ethnicity
            personal_id = deceased.personal_id if has_id else ""
        else:
            name = ids.full_name(rng, ids.family_name(rng), female, born.year)
            ethnic = ids.ethnicity(rng)
            personal_id = self._person_id(born.year, female) if has_id else ""
        values = self._common(office, registered, registration_type, entered)
        values.update(
            {
                "Họ và tên người chết": name,
                "Giới tính": GENDERS[female],
                "Ngày sinh": _vi_date(born) if known_birth else "",
                "Dân tộc": ethnic,
                "Quốc tịch": VIETNAM,
                "Số định danh cá nhân": personal_id,
                "Ngày chết": _vi_date(died),
                "Nơi chết": place,
                "Mã xã nơi chết": place_code,
                "Nguyên nhân chết": cause,
                "Số giấy báo tử": notice_number,
                "Cơ quan cấp giấy báo tử": notice_issuer,
            }
        )
        event = _Event(DEATH, entered, values, office, registered, kind, variant)
        if kind == "id_birth_mismatch":
            self._spoil_id(event, "Số định danh cá nhân")
        elif kind == "unknown_commune":
            if variant % 2 == 0 or not place_code:
                self._spoil_commune(event, "Mã xã cơ quan đăng ký", registered)
            else:
                self._spoil_commune(event, "Mã xã nơi chết", died)
        elif kind == "death_before_birth":
            event.detail = f"born {_vi_date(born)}, died {_vi_date(died)}"
        elif kind == "registered_before_death":
            event.detail = f"registered {_vi_date(registered)}, died {_vi_date(died)}"
        return event


# --- writing ---------------------------------------------------------------------------------


def _impossible_date(rng: random.Random, written: str) -> str:
    """A day the month lacks, in the year written: 31/02/2024, 31/04/2025, 29/02/2023..."""
    year = int(written[-4:])
    month = rng.choice((2, 4, 6, 9, 11))
    return f"{calendar.monthrange(year, month)[1] + 1:02d}/{month:02d}/{year}"


def _spoiled_line(
    rng: random.Random, event: _Event, columns: tuple[str, ...], terminator: str
) -> str | None:
    """The raw CSV line of a record spoiled in its text, or ``None`` to write it normally."""
    if event.kind == "impossible_date":
        column = ("Ngày đăng ký", EVENT_DATE_COLUMN[event.dataset])[event.variant % 2]
        event.values[column] = _impossible_date(rng, event.values[column])
        event.detail = f"{column} {event.values[column]}"
        return None
    if event.kind != "wrong_field_count":
        return None
    row = [event.values[column] for column in columns]
    if event.variant % 2 == 0:
        # Hand-built export: the address's commas left unquoted split it into more fields.
        line = ",".join(row)
        fields = len(next(csv.reader([line])))
        event.detail = f"unquoted {ADDRESS_COLUMN[event.dataset]}: {fields} fields"
        if fields == len(columns):
            raise RuntimeError(f"spoiling {event.key} left {fields} fields")
        return line + terminator
    # A truncated export: the last column is missing.
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=terminator).writerow(row[:-1])
    event.detail = f"last column missing: {len(columns) - 1} fields"
    return buffer.getvalue()


def _write_exports(
    out_dir: Path, events: list[_Event], rng: random.Random
) -> tuple[list[dict[str, str]], dict[str, str]]:
    """Write one file per event type and entry day; returns the answer key and encodings."""
    files: dict[str, list[_Event]] = {}
    for event in events:
        day = event.entered.astimezone(VN_TZ).date()
        files.setdefault(f"{FILE_PREFIXES[event.dataset]}_{day:%Y%m%d}.csv", []).append(event)
    labels, weights = zip(*ENCODING_WEIGHTS, strict=True)
    encodings: dict[str, str] = {}
    for dataset in DATASETS:
        names = sorted(name for name in files if files[name][0].dataset == dataset)
        # Every encoding at least once where there are files enough, the rest by share.
        chosen = list(labels[: len(names)])
        chosen += rng.choices(labels, weights=weights, k=len(names) - len(chosen))
        rng.shuffle(chosen)
        encodings.update(zip(names, chosen, strict=True))

    key_rows: list[dict[str, str]] = []
    for name in sorted(files):
        label = encodings[name]
        dataset = files[name][0].dataset
        columns = COLUMNS[dataset]
        # Windows tools end lines with CRLF.
        terminator = "\r\n" if label in (UTF8_BOM, CP1258) else "\n"
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator=terminator)
        writer.writerow(columns)
        for line, event in enumerate(files[name], start=2):
            raw = _spoiled_line(rng, event, columns, terminator)
            if raw is None:
                writer.writerow([event.values[column] for column in columns])
            else:
                buffer.write(raw)
            if event.kind is not None:
                key_rows.append(
                    {
                        "dataset": dataset,
                        "key": event.key,
                        "kind": event.kind,
                        "detail": event.detail,
                        "file": name,
                        "line": str(line),
                    }
                )
        text = buffer.getvalue()
        if label == CP1258:
            data = cp1258_bytes(text)
        elif label == UTF8_NFD:
            data = unicodedata.normalize("NFD", text).encode(UTF8)
        else:
            data = text.encode(label)
        # Written beside the target and renamed: a connector never sees half a file, and the
        # dot keeps the temporary name out of the export patterns.
        temp = out_dir / f".{name}.tmp"
        temp.write_bytes(data)
        temp.replace(out_dir / name)
    return key_rows, encodings


def _write_json(path: Path, value: dict[str, str]) -> None:
    path.write_text(
        json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding=UTF8
    )


def _write_answer_key(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", encoding=UTF8, newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=ANSWER_KEY_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(sorted(rows, key=lambda row: (row["dataset"], row["key"])))
