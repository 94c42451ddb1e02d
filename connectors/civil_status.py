"""The civil-status (hộ tịch) system: CSV exports of births, marriages and deaths in a directory.

The civil-status system drops one export per event type and batch (usually a day) into a
directory: ``khai_sinh_*.csv`` births, ``ket_hon_*.csv`` marriages, ``khai_tu_*.csv`` deaths,
with Vietnamese column headers. One connector reads each event type:
:class:`CivilBirthConnector`, :class:`CivilMarriageConnector`, :class:`CivilDeathConnector`.

Files are read in name order, so export names must sort in the order the exports were made (a
date in the name does that). The offset is ``{"file": name, "line": n}``, the first physical
line of the last record read; the last record of a file also carries ``"done": true``, so a
finished file is never opened again and a restart inside a file resumes after line ``n``.

Encodings: UTF-8 by default; a file starting with a UTF-8 byte-order mark is UTF-8 whatever the
config says; files matching a ``legacy_files`` pattern are Windows-1258 (``cp1258``), the code
page of the old desktop software. Text is NFC-normalised after decoding, which also composes the
combining tone marks Windows-1258 and decomposed (NFD) exports use.

A record that cannot become the dataset's record raises :class:`~connectors.base.MappingError`
in :meth:`CivilStatusConnector.map` and the runner dead-letters it with its row, which holds the
columns plus ``_file``, ``_line``, ``_raw`` (the record's text) and, for a malformed record,
``_error``: a wrong number of fields, bytes not valid in the file's encoding, broken CSV
quoting, a date that does not exist, an unknown gender, registration type or nationality. A
header that lacks a column the connector needs stops the run with :class:`ExportFormatError`
instead: every record of that file would be unreadable, usually because the file's encoding is
not configured.
"""

from __future__ import annotations

import codecs
import csv
import os
import re
import unicodedata
from abc import abstractmethod
from collections.abc import Iterator, Mapping
from datetime import date, datetime, timedelta, timezone
from fnmatch import fnmatchcase
from pathlib import Path
from typing import IO, Any, ClassVar, Final, Literal

from pydantic import Field

from connectors.base import (
    Connector,
    ConnectorConfig,
    MappingError,
    Offset,
    SourceRecord,
    SourceUnavailable,
)

# The civil-status system writes local time; Vietnam keeps UTC+7 all year.
VN_TZ: Final = timezone(timedelta(hours=7), "ICT")

FILE_KEY: Final = "_file"
LINE_KEY: Final = "_line"
RAW_KEY: Final = "_raw"
ERROR_KEY: Final = "_error"

Encoding = Literal["utf-8", "cp1258"]

_DATE: Final = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_TIMESTAMP: Final = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})[ T](\d{1,2}):(\d{2})(?::(\d{2}))?")
_ISO_COUNTRY: Final = re.compile(r"[A-Z]{2}")
_GENDERS: Final[dict[str, str]] = {
    "nam": "MALE",
    "nữ": "FEMALE",
    "male": "MALE",
    "female": "FEMALE",
}
_REGISTRATION_TYPES: Final[dict[str, str]] = {
    "đúng hạn": "ON_TIME",
    "quá hạn": "LATE",
    "đăng ký lại": "RE_REGISTRATION",
    "có yếu tố nước ngoài": "FOREIGN_ELEMENT",
    # The schema's own symbols, as exports converted by hand sometimes carry them.
    **{
        symbol.casefold(): symbol
        for symbol in ("ON_TIME", "LATE", "RE_REGISTRATION", "FOREIGN_ELEMENT")
    },
}
# Countries as the civil-status system names them (Vietnamese), to ISO 3166-1 alpha-2.
NATIONALITIES: Final[dict[str, str]] = {
    "việt nam": "VN",
    "lào": "LA",
    "campuchia": "KH",
    "trung quốc": "CN",
    "đài loan (trung quốc)": "TW",
    "đài loan": "TW",
    "hàn quốc": "KR",
    "nhật bản": "JP",
    "thái lan": "TH",
    "hoa kỳ": "US",
    "nga": "RU",
    "pháp": "FR",
    "đức": "DE",
    "anh": "GB",
    "úc": "AU",
    "ô-xtrây-li-a": "AU",
    "ca-na-đa": "CA",
    "ma-lai-xi-a": "MY",
    "xin-ga-po": "SG",
    "phi-líp-pin": "PH",
    "in-đô-nê-xi-a": "ID",
}


class CivilStatusConfig(ConnectorConfig):
    """Where the exports are, which files to read and which are in the legacy code page."""

    directory: Path = Field(description="Directory the civil-status system writes its exports to")
    files: str | None = Field(
        default=None,
        min_length=1,
        description="Glob of this event type's export file names, matched without regard to "
        "case; defaults to the system's naming (khai_sinh_*.csv, ket_hon_*.csv, khai_tu_*.csv)",
    )
    legacy_files: tuple[str, ...] = Field(
        default=(),
        description="Globs of export file names written in Windows-1258 (cp1258), e.g. ['*'] "
        "when the whole system is the legacy one; every other file is UTF-8. A file starting "
        "with a UTF-8 byte-order mark is read as UTF-8 whatever these say",
    )


class ExportFormatError(SourceUnavailable, ValueError):
    """An export's header lacks columns the connector needs; the file cannot be read."""


def _normalise(name: str) -> str:
    return " ".join(name.split()).casefold()


class _Fields:
    """One row's columns, parsed into the values the dataset's schema wants."""

    def __init__(self, row: Mapping[str, Any]) -> None:
        self._row = row

    def optional(self, column: str) -> str | None:
        """The text of ``column``, ``None`` when blank."""
        value = self._row.get(column)
        text = value.strip() if isinstance(value, str) else ""
        return text or None

    def text(self, column: str) -> str:
        """The text of ``column``; blank stays blank for the validator's ``required`` rule."""
        return self.optional(column) or ""

    def optional_date(self, column: str) -> date | None:
        """A ``dd/mm/yyyy`` date, ``None`` when blank."""
        text = self.optional(column)
        if text is None:
            return None
        found = _DATE.fullmatch(text)
        try:
            if found is None:
                raise ValueError("not dd/mm/yyyy")
            day, month, year = (int(part) for part in found.groups())
            return date(year, month, day)
        except ValueError as exc:
            raise MappingError(f"{column} {text!r} is not a date (dd/mm/yyyy): {exc}") from exc

    def date(self, column: str) -> date:
        """A required ``dd/mm/yyyy`` date."""
        value = self.optional_date(column)
        if value is None:
            raise MappingError(f"{column} is missing")
        return value

    def timestamp(self, column: str) -> datetime:
        """A ``dd/mm/yyyy HH:MM[:SS]`` Vietnam time, as an aware datetime."""
        text = self.optional(column) or ""
        found = _TIMESTAMP.fullmatch(text)
        try:
            if found is None:
                raise ValueError("not dd/mm/yyyy HH:MM:SS")
            day, month, year, hour, minute = (int(part) for part in found.groups()[:5])
            second = int(found[6] or 0)
            return datetime(year, month, day, hour, minute, second, tzinfo=VN_TZ)
        except ValueError as exc:
            raise MappingError(f"{column} {text!r} is not a time: {exc}") from exc

    def _coded(self, column: str, codes: Mapping[str, str], expected: str) -> str:
        text = self.text(column)
        code = codes.get(_normalise(text))
        if code is None:
            raise MappingError(f"{column} {text!r} is not {expected}")
        return code

    def gender(self, column: str) -> str:
        """``MALE`` or ``FEMALE`` from Nam / Nữ."""
        return self._coded(column, _GENDERS, "Nam or Nữ")

    def registration_type(self, column: str) -> str:
        """The schema's registration type from the system's wording."""
        return self._coded(
            column, _REGISTRATION_TYPES, "Đúng hạn, Quá hạn, Đăng ký lại or Có yếu tố nước ngoài"
        )

    def nationality(self, column: str) -> str:
        """ISO 3166-1 alpha-2 of a country name or code; blank is Vietnamese (the default)."""
        text = self.optional(column)
        if text is None:
            return "VN"
        if _ISO_COUNTRY.fullmatch(text):
            return text
        code = NATIONALITIES.get(_normalise(text))
        if code is None:
            raise MappingError(f"{column} {text!r} is not a known country")
        return code

    def ethnicity(self, column: str) -> str:
        """The ethnic group; blank is Kinh, the schema's default."""
        return self.optional(column) or "Kinh"


class CivilStatusConnector(Connector[CivilStatusConfig]):
    """Base of the three civil-status connectors: reads one event type's CSV exports.

    Subclasses name their dataset, default file pattern and columns, and build the record in
    :meth:`_record`.
    """

    source_system: ClassVar[str] = "civil_status"
    Config: ClassVar[type[ConnectorConfig]] = CivilStatusConfig
    default_files: ClassVar[str]
    columns: ClassVar[tuple[str, ...]]
    """The header columns the connector reads; an export may have more, in any order."""

    @property
    def pattern(self) -> str:
        """The glob of the exports this connector reads."""
        return self.config.files or self.default_files

    def _files(self) -> list[Path]:
        """This event type's exports, in name order."""
        directory = self.config.directory
        pattern = self.pattern.casefold()
        try:
            return sorted(
                (
                    path
                    for path in directory.iterdir()
                    if fnmatchcase(path.name.casefold(), pattern) and path.is_file()
                ),
                key=lambda path: path.name,
            )
        except OSError as exc:
            raise SourceUnavailable(
                f"{self.instance_name}: cannot list the export directory {directory}: {exc}"
            ) from exc

    def _encoding(self, name: str) -> Encoding:
        legacy = any(fnmatchcase(name.casefold(), p.casefold()) for p in self.config.legacy_files)
        return "cp1258" if legacy else "utf-8"

    def row_key(self, row: Mapping[str, Any], key_fields: tuple[str, ...]) -> str:
        """Export rows carry Vietnamese headers, not the schema's names: file and line it is."""
        return f"{row.get(FILE_KEY, '')}:{row.get(LINE_KEY, '')}"

    def check(self) -> None:
        """Raise unless the directory is readable and every export's header is understood."""
        directory = self.config.directory
        if not directory.is_dir():
            raise SourceUnavailable(
                f"{self.instance_name}: export directory {directory} does not exist"
            )
        if not os.access(directory, os.R_OK | os.X_OK):
            raise SourceUnavailable(
                f"{self.instance_name}: export directory {directory} is not readable"
            )
        for path in self._files():
            # Reads the header only; raises if the file is unreadable or not understood.
            next(self._read(path, skip_through=None), None)

    def backlog(self, since: Offset | None) -> int:
        """Records after ``since``: unread exports are parsed, finished ones not opened."""
        return sum(1 for _ in self.records(since))

    def records(self, since: Offset | None) -> Iterator[SourceRecord]:
        after_file, after_line, finished = "", 0, False
        if since is not None:
            try:
                after_file, after_line = str(since["file"]), int(since["line"])
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(
                    f"{self.instance_name}: offset {since!r} is not "
                    '{"file": name, "line": number}'
                ) from exc
            finished = bool(since.get("done"))
        for path in self._files():
            name = path.name
            if name < after_file or (name == after_file and finished):
                continue
            skip = after_line if name == after_file else 0
            previous: tuple[int, dict[str, Any]] | None = None
            for line, row in self._read(path, skip_through=skip):
                if previous is not None:
                    yield SourceRecord(row=previous[1], offset={"file": name, "line": previous[0]})
                previous = (line, row)
            if previous is not None:
                yield SourceRecord(
                    row=previous[1], offset={"file": name, "line": previous[0], "done": True}
                )

    def _read(self, path: Path, skip_through: int | None) -> Iterator[tuple[int, dict[str, Any]]]:
        """``(first line, row)`` of each record of ``path`` after line ``skip_through``.

        With ``skip_through`` ``None`` only the header is checked and nothing is yielded.
        Blank records (no field holds anything) are skipped: they carry nothing to lose.
        """
        name = path.name
        encoding = self._encoding(name)
        undecodable: list[int] = []
        consumed: list[tuple[int, str]] = []

        def lines(handle: IO[bytes]) -> Iterator[str]:
            nonlocal encoding
            for number, data in enumerate(handle, start=1):
                if number == 1 and data.startswith(codecs.BOM_UTF8):
                    data = data[len(codecs.BOM_UTF8) :]
                    encoding = "utf-8"
                try:
                    text = data.decode(encoding)
                except UnicodeDecodeError:
                    # Kept readable (\xNN) for the dead letter, and flagged.
                    text = data.decode(encoding, errors="backslashreplace")
                    undecodable.append(number)
                text = unicodedata.normalize("NFC", text)
                consumed.append((number, text))
                yield text

        try:
            handle = path.open("rb")
        except OSError as exc:
            raise SourceUnavailable(f"{self.instance_name}: cannot read {path}: {exc}") from exc
        with handle:
            reader = csv.reader(lines(handle), strict=True)
            header: list[str] | None = None
            while True:
                problem = None
                try:
                    fields = next(reader)
                except StopIteration:
                    break
                except csv.Error as exc:
                    fields, problem = [], f"malformed CSV: {exc}"
                except OSError as exc:
                    raise SourceUnavailable(
                        f"{self.instance_name}: cannot read {path}: {exc}"
                    ) from exc
                first = consumed[0][0]
                raw = "".join(text for _, text in consumed).rstrip("\r\n")
                bad_lines = [number for number in undecodable if number >= first]
                consumed.clear()
                undecodable.clear()
                if problem is None and not any(field.strip() for field in fields):
                    continue
                if header is None:
                    header = self._header(path, fields, encoding, bad_lines)
                    if skip_through is None:
                        return
                    continue
                if skip_through is not None and first <= skip_through:
                    continue
                if bad_lines:
                    problem = f"line {bad_lines[0]} is not valid {encoding}"
                elif problem is None and len(fields) != len(header):
                    problem = f"{len(fields)} fields where the header has {len(header)}"
                row: dict[str, Any] = {FILE_KEY: name, LINE_KEY: first, RAW_KEY: raw}
                if problem is None:
                    row.update(zip(header, fields, strict=True))
                else:
                    row[ERROR_KEY] = problem
                yield first, row

    def _header(
        self, path: Path, fields: list[str], encoding: str, bad_lines: list[int]
    ) -> list[str]:
        """The header's columns, the connector's spelling where it knows them."""
        known = {_normalise(column): column for column in self.columns}
        header = [known.get(_normalise(field), field.strip()) for field in fields]
        missing = [column for column in self.columns if column not in header]
        duplicated = sorted({column for column in header if header.count(column) > 1})
        if not missing and not duplicated:
            return header
        problems = []
        if missing:
            problems.append(f"lacks the columns {', '.join(missing)}")
        if duplicated:
            problems.append(f"repeats the columns {', '.join(duplicated)}")
        hint = ""
        if bad_lines and encoding == "utf-8":
            hint = (
                "; the header is not valid UTF-8: if this is a legacy Windows-1258 export, "
                "add it to legacy_files"
            )
        raise ExportFormatError(
            f"{self.instance_name}: {path.name} is not a {self.dataset} export: its header "
            f"{' and '.join(problems)} (read as {encoding}){hint}"
        )

    def map(self, row: Mapping[str, Any]) -> dict[str, Any]:
        where = f"{row.get(FILE_KEY)} line {row.get(LINE_KEY)}"
        if ERROR_KEY in row:
            raise MappingError(f"{where}: {row[ERROR_KEY]}")
        fields = _Fields(row)
        try:
            record = {
                "registering_agency_id": fields.text("Mã định danh cơ quan đăng ký"),
                "book_number": fields.text("Quyển số"),
                "registration_number": fields.text("Số đăng ký"),
                "registering_commune_code": fields.optional("Mã xã cơ quan đăng ký"),
                "registration_date": fields.date("Ngày đăng ký"),
                "registration_type": fields.registration_type("Loại đăng ký"),
                **self._record(fields),
                "updated_at": fields.timestamp("Thời điểm cập nhật"),
            }
        except MappingError as exc:
            raise MappingError(f"{where}: {exc}") from exc
        return record

    @abstractmethod
    def _record(self, fields: _Fields) -> dict[str, Any]:
        """The event's own fields (everything but the registration's and ``updated_at``)."""


COMMON_COLUMNS: tuple[str, ...] = (
    "Số đăng ký",
    "Quyển số",
    "Ngày đăng ký",
    "Loại đăng ký",
    "Mã định danh cơ quan đăng ký",
    "Mã xã cơ quan đăng ký",
    "Thời điểm cập nhật",
)


class CivilBirthConnector(CivilStatusConnector):
    """Birth registrations (đăng ký khai sinh) from ``khai_sinh_*.csv``."""

    name: ClassVar[str] = "civil_birth"
    dataset: ClassVar[str] = "civil.birth"
    default_files: ClassVar[str] = "khai_sinh_*.csv"
    columns: ClassVar[tuple[str, ...]] = (
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
    )

    @staticmethod
    def _parent(fields: _Fields, who: str) -> dict[str, Any] | None:
        name = fields.optional(f"Họ và tên {who}")
        personal_id = fields.optional(f"Số định danh của {who}")
        if name is None and personal_id is None:
            return None  # not established
        return {
            "full_name": name or "",
            "personal_id": personal_id,
            "nationality": fields.nationality(f"Quốc tịch của {who}"),
        }

    def _record(self, fields: _Fields) -> dict[str, Any]:
        return {
            "child": {
                "personal_id": fields.optional("Số định danh cá nhân"),
                "full_name": fields.text("Họ và tên"),
                "gender": fields.gender("Giới tính"),
                "date_of_birth": fields.date("Ngày sinh"),
                "place_of_birth": {
                    "commune_code": fields.optional("Mã xã nơi sinh"),
                    "address": fields.text("Nơi sinh"),
                },
                "ethnicity": fields.ethnicity("Dân tộc"),
                "nationality": fields.nationality("Quốc tịch"),
            },
            "mother": self._parent(fields, "mẹ"),
            "father": self._parent(fields, "cha"),
        }


class CivilMarriageConnector(CivilStatusConnector):
    """Marriage registrations (đăng ký kết hôn) from ``ket_hon_*.csv``."""

    name: ClassVar[str] = "civil_marriage"
    dataset: ClassVar[str] = "civil.marriage"
    default_files: ClassVar[str] = "ket_hon_*.csv"
    columns: ClassVar[tuple[str, ...]] = (
        *COMMON_COLUMNS,
        *(
            f"{column} {side}"
            for side in ("chồng", "vợ")
            for column in (
                "Họ và tên",
                "Ngày sinh",
                "Dân tộc",
                "Quốc tịch",
                "Số định danh",
                "Nơi cư trú",
                "Mã xã cư trú",
            )
        ),
    )

    @staticmethod
    def _spouse(fields: _Fields, side: str) -> dict[str, Any]:
        return {
            "personal_id": fields.optional(f"Số định danh {side}"),
            "full_name": fields.text(f"Họ và tên {side}"),
            "date_of_birth": fields.date(f"Ngày sinh {side}"),
            "ethnicity": fields.ethnicity(f"Dân tộc {side}"),
            "nationality": fields.nationality(f"Quốc tịch {side}"),
            "residence": {
                "commune_code": fields.optional(f"Mã xã cư trú {side}"),
                "address": fields.text(f"Nơi cư trú {side}"),
            },
        }

    def _record(self, fields: _Fields) -> dict[str, Any]:
        return {"husband": self._spouse(fields, "chồng"), "wife": self._spouse(fields, "vợ")}


class CivilDeathConnector(CivilStatusConnector):
    """Death registrations (đăng ký khai tử) from ``khai_tu_*.csv``."""

    name: ClassVar[str] = "civil_death"
    dataset: ClassVar[str] = "civil.death"
    default_files: ClassVar[str] = "khai_tu_*.csv"
    columns: ClassVar[tuple[str, ...]] = (
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
    )

    def _record(self, fields: _Fields) -> dict[str, Any]:
        notice_number = fields.optional("Số giấy báo tử")
        notice_issuer = fields.optional("Cơ quan cấp giấy báo tử")
        notice = None
        if notice_number is not None or notice_issuer is not None:
            notice = {"number": notice_number or "", "issuer": notice_issuer or ""}
        return {
            "deceased": {
                "personal_id": fields.optional("Số định danh cá nhân"),
                "full_name": fields.text("Họ và tên người chết"),
                "gender": fields.gender("Giới tính"),
                "date_of_birth": fields.optional_date("Ngày sinh"),
                "ethnicity": fields.ethnicity("Dân tộc"),
                "nationality": fields.nationality("Quốc tịch"),
            },
            "date_of_death": fields.date("Ngày chết"),
            "place_of_death": {
                "commune_code": fields.optional("Mã xã nơi chết"),
                "address": fields.text("Nơi chết"),
            },
            "cause_of_death": fields.optional("Nguyên nhân chết"),
            "death_notice": notice,
        }
