"""The document-management (e-office) system: an exchange folder of edXML and JSON documents.

The province's shared e-office system (hệ thống quản lý văn bản và điều hành) drops one file per
register entry into an exchange folder, named so that later exports sort after earlier ones:

- ``.edxml`` / ``.xml``: an edXML package (QCVN 102:2016/BTTTT) as documents travel between
  agencies: the ``edXMLEnvelope`` (``MessageHeader`` with sender, receivers, number and symbol,
  promulgation date, type, subject, signer, due date; ``TraceHeaderList`` with a timestamp per hop;
  an XML signature when the document is digitally signed), followed by the e-office's own
  register entry (``RegisterEntry``, namespace :data:`REGISTER_NAMESPACE`): which agency's
  register holds the document, in which direction, who handles it and how far it has got.
  QCVN 102 carries no receiver-side processing state, hence the separate entry.
- ``.json``: the same register entry as the e-office's REST API returns it, in the dataset's
  own field names (``record_from_json`` shape) plus API extras that the record ignores.

Files are read once, up to ``max_file_bytes``; XML is parsed by defusedxml only, with entity
declarations and external references refused, so an entity bomb or an external-entity (XXE)
file is rejected at its first declaration, before anything is expanded or fetched.
"""

from __future__ import annotations

import json
import os
import unicodedata
from collections.abc import Iterator, Mapping
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, ClassVar, Final
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException, EntitiesForbidden
from defusedxml.ElementTree import fromstring as parse_xml
from pydantic import Field

from connectors.base import (
    Connector,
    ConnectorConfig,
    MappingError,
    Offset,
    SourceRecord,
    SourceUnavailable,
)
from schemas.catalogue import default_catalogue
from schemas.json_records import MAX_NESTING, JsonRecordError, ensure_shallow, record_from_json

EDXML_NAMESPACE: Final = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
"""Namespace of edXML, QCVN 102:2016/BTTTT."""
REGISTER_NAMESPACE: Final = "urn:lgsp-hub:e-office:register:1"
"""Namespace of the e-office system's register entry that follows the edXML envelope."""
XMLDSIG_NAMESPACE: Final = "http://www.w3.org/2000/09/xmldsig#"

XML_SUFFIXES: Final = frozenset({".edxml", ".xml"})
JSON_SUFFIXES: Final = frozenset({".json"})
# What a dead letter shows of a file it could not parse: enough to recognise it, never all.
HEAD_BYTES: Final = 256
# edXML writes local Vietnam time without an offset; Vietnam keeps UTC+7 all year.
VN_TZ: Final = timezone(timedelta(hours=7), "ICT")

# TraceHeaderList and register timestamps (yyyy/MM/dd HH:mm:ss), edXML dates (yyyy/MM/dd).
_EDXML_TIMESTAMP: Final = "%Y/%m/%d %H:%M:%S"
_EDXML_DATE: Final = "%Y/%m/%d"

# MessageHeader elements the record reads, as paths below MessageHeader.
_MESSAGE_PATHS: Final = (
    "From/OrganId",
    "From/OrganName",
    "Code/CodeNumber",
    "Code/CodeNotation",
    "PromulgationInfo/PromulgationDate",
    "DocumentType/TypeName",
    "Subject",
    "SignerInfo/Competence",
    "SignerInfo/Position",
    "SignerInfo/FullName",
    "DueDate",
)
_REGISTER_PATHS: Final = (
    "HolderOrganId",
    "HolderLevel",
    "Direction",
    "HandlingUnit",
    "StatusCode",
    "ProcessedOnline",
    "UpdatedAt",
)

_LEVELS: Final = {"TINH": "PROVINCE", "HUYEN": "DISTRICT", "XA": "COMMUNE"}
_DIRECTIONS: Final = {"DEN": "INCOMING", "DI": "OUTGOING"}
# Status codes of edXML status messages (QCVN 102:2016) that a receiver's register keeps.
_INCOMING_STATUS: Final = {
    "01": "RECEIVED",  # đã đến
    "02": "RETURNED",  # từ chối tiếp nhận
    "03": "RECEIVED",  # đã tiếp nhận
    "04": "RECEIVED",  # đã đến, đang chờ phân công
    "05": "IN_PROGRESS",  # đã phân công, đang xử lý
    "06": "COMPLETED",  # đã xử lý xong
    "13": "WITHDRAWN",  # thu hồi văn bản
    "15": "WITHDRAWN",  # đồng ý thu hồi
}
# Bussiness/BussinessDocType of an outgoing envelope: 0 new, 1 revoked, 2 updated, 3 replaced.
_REVOKED: Final = "1"
_BOOLEANS: Final = {"TRUE": True, "1": True, "FALSE": False, "0": False}

# Type names (Decree 30/2020/NĐ-CP, Article 7, and the legal normative types commonly received)
# to the schema's symbols; names are compared case-folded, both tone-mark placements accepted.
_TYPES: Final = {
    name.casefold(): symbol
    for symbol, names in {
        "NGHI_QUYET": ("Nghị quyết",),
        "QUYET_DINH": ("Quyết định",),
        "CHI_THI": ("Chỉ thị",),
        "QUY_CHE": ("Quy chế",),
        "QUY_DINH": ("Quy định",),
        "THONG_CAO": ("Thông cáo",),
        "THONG_BAO": ("Thông báo",),
        "HUONG_DAN": ("Hướng dẫn",),
        "CHUONG_TRINH": ("Chương trình",),
        "KE_HOACH": ("Kế hoạch",),
        "PHUONG_AN": ("Phương án",),
        "DE_AN": ("Đề án",),
        "DU_AN": ("Dự án",),
        "BAO_CAO": ("Báo cáo",),
        "BIEN_BAN": ("Biên bản",),
        "TO_TRINH": ("Tờ trình",),
        "HOP_DONG": ("Hợp đồng",),
        "CONG_VAN": ("Công văn",),
        "CONG_DIEN": ("Công điện",),
        "BAN_GHI_NHO": ("Bản ghi nhớ",),
        "BAN_THOA_THUAN": ("Bản thỏa thuận", "Bản thoả thuận"),
        "GIAY_UY_QUYEN": ("Giấy ủy quyền", "Giấy uỷ quyền"),
        "GIAY_MOI": ("Giấy mời",),
        "GIAY_GIOI_THIEU": ("Giấy giới thiệu",),
        "GIAY_NGHI_PHEP": ("Giấy nghỉ phép",),
        "PHIEU_GUI": ("Phiếu gửi",),
        "PHIEU_CHUYEN": ("Phiếu chuyển",),
        "PHIEU_BAO": ("Phiếu báo",),
        "THU_CONG": ("Thư công",),
        "LUAT": ("Luật",),
        "PHAP_LENH": ("Pháp lệnh",),
        "NGHI_DINH": ("Nghị định",),
        "THONG_TU": ("Thông tư",),
    }.items()
    for name in names
}


class DocumentManagementConfig(ConnectorConfig):
    """Where the exchange folder is, and the largest file the connector will read."""

    directory: Path = Field(description="The e-office system's exchange folder")
    max_file_bytes: int = Field(
        default=32 * 1024 * 1024,
        ge=1,
        description="Files larger than this become dead letters without being read",
    )


def _q(namespace: str, path: str) -> str:
    """An ElementTree path with every step in ``namespace``."""
    return "/".join(f"{{{namespace}}}{step}" for step in path.split("/"))


def _local_name(tag: str) -> str:
    return tag.rpartition("}")[2]


def _text(element: Element | None) -> str | None:
    """An element's text, stripped; ``None`` when the element is absent."""
    if element is None:
        return None
    return (element.text or "").strip()


def _nfc(value: Any) -> Any:
    """Strings in NFC, through lists and objects: sources send decomposed Vietnamese at times."""
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, list):
        return [_nfc(item) for item in value]
    if isinstance(value, dict):
        return {key: _nfc(item) for key, item in value.items()}
    return value


class _Unparseable(ValueError):
    """A file whose bytes are not a document of its format."""


def _xml_refusal(exc: Exception) -> str:
    """Why XML was refused, naming the problem and quoting the parser's error."""
    if isinstance(exc, EntitiesForbidden) and (exc.sysid or exc.pubid):
        return (
            f"refused: declares the external entity {exc.name!r} ({exc.sysid or exc.pubid}), "
            f"an XXE attempt; external entities are never resolved ({exc!r})"
        )
    if isinstance(exc, EntitiesForbidden):
        return (
            f"refused: declares the entity {exc.name!r}; entity declarations are refused "
            f"unexpanded, as an entity bomb ('billion laughs') uses them ({exc!r})"
        )
    if isinstance(exc, DefusedXmlException):
        return f"refused: unsafe XML construct ({exc!r})"
    if isinstance(exc, ParseError):
        return f"not well-formed XML, truncated or corrupt ({exc})"
    return f"unreadable XML ({exc})"


class DocumentManagementConnector(Connector[DocumentManagementConfig]):
    """Reads the exchange folder file by file, in name order, resuming after a file name.

    Only regular files ending in ``.edxml``, ``.xml`` or ``.json`` are documents; hidden files
    (a copy in progress), other suffixes (``.part``, attachments) and symbolic links are
    skipped, the last so that a link cannot pull a file from outside the folder into a dead
    letter.
    """

    name: ClassVar[str] = "document_management"
    dataset: ClassVar[str] = "document.record"
    source_system: ClassVar[str] = "document_management"
    Config: ClassVar[type[ConnectorConfig]] = DocumentManagementConfig

    def __init__(self, config: DocumentManagementConfig, instance_name: str | None = None) -> None:
        super().__init__(config, instance_name)
        self._schema = default_catalogue().dataset(self.dataset).avro_schema()

    def _document_names(self) -> list[str]:
        directory = self.config.directory
        try:
            with os.scandir(directory) as entries:
                names = [
                    entry.name
                    for entry in entries
                    if not entry.name.startswith(".")
                    and Path(entry.name).suffix.lower() in XML_SUFFIXES | JSON_SUFFIXES
                    and entry.is_file(follow_symlinks=False)
                ]
        except OSError as exc:
            raise SourceUnavailable(
                f"document_management exchange folder {directory}: {exc.strerror or exc}"
            ) from exc
        return sorted(names)

    def row_key(self, row: Mapping[str, Any], key_fields: tuple[str, ...]) -> str:
        """A file that cannot be parsed has no document key: its name identifies it."""
        return str(row.get("file", ""))

    def check(self) -> None:
        """Raise :class:`SourceUnavailable` if the exchange folder cannot be listed."""
        self._document_names()

    def backlog(self, since: Offset | None) -> int | None:
        names = self._document_names()
        if since is None:
            return len(names)
        return sum(1 for name in names if name > since["file"])

    def records(self, since: Offset | None) -> Iterator[SourceRecord]:
        after = None if since is None else since["file"]
        for name in self._document_names():
            if after is None or name > after:
                yield SourceRecord(row=self._read(name), offset={"file": name})

    def _read(self, name: str) -> dict[str, Any]:
        """The row of one file: its parsed document, or why it has none."""
        path = self.config.directory / name
        kind = "json" if Path(name).suffix.lower() in JSON_SUFFIXES else "edxml"
        limit = self.config.max_file_bytes
        row: dict[str, Any] = {"file": name, "format": kind}
        try:
            size = path.stat().st_size
            row["size"] = size
            if size > limit:
                row["error"] = f"{name}: {size} bytes exceed max_file_bytes {limit}; not read"
                return row
            with path.open("rb") as handle:
                # read(n) allocates n bytes up front, so ask for the listed size, not the cap;
                # the one byte more tells a file still being written from a finished one.
                data = handle.read(size + 1)
        except OSError as exc:
            row["error"] = f"{name}: cannot be read: {exc.strerror or exc}"
            return row
        if len(data) > size:
            row["error"] = (
                f"{name}: grew past its listed {size} bytes while read, so it was still being "
                "written; the e-office must write under a hidden name and rename when done"
            )
            return row
        try:
            row["document"] = _parse_json(data) if kind == "json" else _parse_edxml(data)
        except _Unparseable as exc:
            row["head"] = data[:HEAD_BYTES].decode("utf-8", errors="replace")
            row["error"] = f"{name}: {exc}"
        return row

    def map(self, row: Mapping[str, Any]) -> dict[str, Any]:
        name = row.get("file", "?")
        if "error" in row:
            raise MappingError(row["error"])
        try:
            # Before _nfc, which recurses: a document nested thousands deep is refused here.
            ensure_shallow(row["document"])
        except JsonRecordError as exc:
            raise MappingError(f"{name}: {exc}") from exc
        document = _nfc(row["document"])
        if row.get("format") == "json":
            try:
                return record_from_json(self._schema, document)
            except JsonRecordError as exc:
                raise MappingError(f"{name}: {exc}") from exc
        return _EdxmlMapping(name, document).record()


def _parse_json(data: bytes) -> Any:
    """A JSON document.

    Raises:
        _Unparseable: The bytes are not UTF-8 JSON.
    """
    try:
        # utf-8-sig: exports from Windows tools start with a byte-order mark.
        document = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise _Unparseable(f"not UTF-8 JSON ({exc})") from exc
    except RecursionError as exc:
        raise _Unparseable("invalid JSON: nested too deeply to parse") from exc
    except ValueError as exc:
        raise _Unparseable(f"invalid JSON ({exc})") from exc
    try:
        # Parsed is not yet safe: whatever walks it next recurses too, nearer the limit.
        ensure_shallow(document)
    except JsonRecordError as exc:
        raise _Unparseable(f"JSON nested more than {MAX_NESTING} levels deep") from exc
    return document


def _parse_edxml(data: bytes) -> dict[str, Any]:
    """The elements of an edXML package the record needs, by path; absent ones are ``None``.

    Raises:
        _Unparseable: The bytes are not well-formed XML, or declare entities or external
            references (refused by defusedxml before any expansion or retrieval).
    """
    try:
        root = parse_xml(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except (DefusedXmlException, ParseError, LookupError) as exc:
        # LookupError: an encoding the XML declaration names but Python does not know.
        raise _Unparseable(_xml_refusal(exc)) from exc
    envelope = root.find(_q(EDXML_NAMESPACE, "edXMLEnvelope"))
    header = None if envelope is None else envelope.find(_q(EDXML_NAMESPACE, "edXMLHeader"))
    message = None if header is None else header.find(_q(EDXML_NAMESPACE, "MessageHeader"))
    traces = None if header is None else header.find(_q(EDXML_NAMESPACE, "TraceHeaderList"))
    register = root.find(_q(REGISTER_NAMESPACE, "RegisterEntry"))
    signature = (
        None if header is None else header.find(_q(XMLDSIG_NAMESPACE, "Signature/SignatureValue"))
    )
    document: dict[str, Any] = {"root": _local_name(root.tag)}
    for path in _MESSAGE_PATHS:
        element = None if message is None else message.find(_q(EDXML_NAMESPACE, path))
        document[f"MessageHeader/{path}"] = _text(element)
    document["TraceHeaderList/TraceHeader"] = (
        []
        if traces is None
        else [
            {
                "OrganId": _text(trace.find(_q(EDXML_NAMESPACE, "OrganId"))),
                "Timestamp": _text(trace.find(_q(EDXML_NAMESPACE, "Timestamp"))),
            }
            for trace in traces.findall(_q(EDXML_NAMESPACE, "TraceHeader"))
        ]
    )
    document["TraceHeaderList/Bussiness/BussinessDocType"] = (
        None
        if traces is None
        else _text(traces.find(_q(EDXML_NAMESPACE, "Bussiness/BussinessDocType")))
    )
    document["Signature/SignatureValue"] = bool(_text(signature))
    for path in _REGISTER_PATHS:
        element = None if register is None else register.find(_q(REGISTER_NAMESPACE, path))
        document[f"RegisterEntry/{path}"] = _text(element)
    return document


class _EdxmlMapping:
    """The record of one parsed edXML package, field by field."""

    def __init__(self, name: str, document: Mapping[str, Any]) -> None:
        self.name = name
        self.document = document

    def _fail(self, message: str) -> MappingError:
        return MappingError(f"{self.name}: {message}")

    def _required(self, path: str) -> str:
        value = self.document.get(path)
        if value is None:
            raise self._fail(f"edXML element {path} is missing")
        return value

    def _optional(self, path: str) -> str | None:
        value = self.document.get(path)
        return value or None

    def _coded(self, path: str, codes: Mapping[str, Any]) -> Any:
        value = self._required(path)
        try:
            return codes[value.upper()]
        except KeyError:
            raise self._fail(f"{path} {value!r} is not one of {', '.join(sorted(codes))}") from None

    def _date(self, path: str, value: str) -> date:
        try:
            return datetime.strptime(value, _EDXML_DATE).date()
        except ValueError:
            pass
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise self._fail(f"{path} {value!r} is not a date (yyyy/MM/dd)") from None

    def _timestamp(self, path: str, value: str) -> datetime:
        try:
            return datetime.strptime(value, _EDXML_TIMESTAMP).replace(tzinfo=VN_TZ)
        except ValueError:
            pass
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise self._fail(f"{path} {value!r} is not a timestamp (yyyy/MM/dd HH:mm:ss)") from None
        return moment if moment.tzinfo else moment.replace(tzinfo=VN_TZ)

    def _number_symbol(self) -> tuple[str, bool]:
        """Number and symbol joined, and whether it is a Party document's.

        Decree 30/2020 joins number and symbol with a slash (``424/QĐ-UBND``; legal normative
        documents carry the year: ``20/2025/QĐ-UBND``); Party documents join them with a hyphen
        and write the issuer after a slash (``05-NQ/TU``). So a notation holding a slash but not
        starting with a year marks a Party document.
        """
        number = self._required("MessageHeader/Code/CodeNumber")
        notation = self._required("MessageHeader/Code/CodeNotation")
        party = "/" in notation and not notation[:1].isdigit()
        return f"{number}{'-' if party else '/'}{notation}", party

    def record(self) -> dict[str, Any]:
        """The dataset record; raises :class:`MappingError` naming what is missing or wrong."""
        root = self.document.get("root")
        if root != "edXML":
            raise self._fail(f"root element {root!r} is not edXML (QCVN 102:2016)")
        direction = self._coded("RegisterEntry/Direction", _DIRECTIONS)
        number_symbol, party = self._number_symbol()
        type_name = self._required("MessageHeader/DocumentType/TypeName")
        traces = self.document.get("TraceHeaderList/TraceHeader") or []
        moment = None
        if traces:
            # Hops in route order: the sender's first, the one into this register last.
            hop = traces[0] if direction == "OUTGOING" else traces[-1]
            if hop.get("Timestamp"):
                moment = self._timestamp("TraceHeader/Timestamp", hop["Timestamp"])
        if direction == "INCOMING":
            status = self._coded("RegisterEntry/StatusCode", _INCOMING_STATUS)
        else:
            revoked = self.document.get("TraceHeaderList/Bussiness/BussinessDocType") == _REVOKED
            status = "WITHDRAWN" if revoked else "ISSUED"
        deadline = self._optional("MessageHeader/DueDate")
        competence = self._optional("MessageHeader/SignerInfo/Competence")
        position = self._optional("MessageHeader/SignerInfo/Position")
        title = " ".join(part for part in (competence, position) if part) or None
        issue_date_path = "MessageHeader/PromulgationInfo/PromulgationDate"
        return {
            "holder_agency_id": self._required("RegisterEntry/HolderOrganId"),
            "holder_level": self._coded("RegisterEntry/HolderLevel", _LEVELS),
            "direction": direction,
            "issuing_agency_id": self._required("MessageHeader/From/OrganId"),
            "issuing_agency_name": self._required("MessageHeader/From/OrganName"),
            "issue_date": self._date(issue_date_path, self._required(issue_date_path)),
            "number_symbol": number_symbol,
            # The schema files Party documents under KHAC whatever their own type.
            "document_type": "KHAC" if party else _TYPES.get(type_name.casefold(), "KHAC"),
            "subject": self._required("MessageHeader/Subject"),
            "signer_name": self._optional("MessageHeader/SignerInfo/FullName"),
            "signer_title": title,
            "digitally_signed": bool(self.document.get("Signature/SignatureValue")),
            "received_at": moment if direction == "INCOMING" else None,
            "sent_at": moment if direction == "OUTGOING" else None,
            "processing_deadline": (
                None if deadline is None else self._date("MessageHeader/DueDate", deadline)
            ),
            "handling_unit": self._optional("RegisterEntry/HandlingUnit"),
            "processing_status": status,
            "processed_online": self._coded("RegisterEntry/ProcessedOnline", _BOOLEANS),
            "updated_at": self._timestamp(
                "RegisterEntry/UpdatedAt", self._required("RegisterEntry/UpdatedAt")
            ),
        }
