"""Document-management (e-office, quản lý văn bản) source simulator for Hà Tĩnh.

Writes the exchange folder of the province's shared e-office system: one file per register
entry, that is one document as one agency's register holds it. An outgoing document appears
once in its issuer's register and once more in the register of every recipient that uses the
same e-office system, so the files share documents the way real registers do.

Each file is an edXML package (``.edxml`` or ``.xml``) or a JSON document of the e-office API
(``.json``); see :mod:`connectors.document_management` for both formats. The edXML follows the
structure of the QCVN 102:2016 SDK sample: ``edXML`` > ``edXMLEnvelope`` > ``edXMLHeader``
(``MessageHeader``, ``TraceHeaderList`` with ``Bussiness``, an XML signature when signed) and
``edXMLBody`` (``edXMLManifest`` of attachment references), then the e-office register entry.
Attachment bodies (``AttachmentEncoded``) stay in the e-office file store; the manifest names
them.

Issuers are the province's People's Committee, its departments and office, the provincial
People's Council and Party Committee, district and commune People's Committees (districts until
30 June 2025; the communes of the list in force on the issue date), the Government Office and
the Ministry of Finance. Numbers and symbols follow Decree 30/2020/NĐ-CP (``424/QĐ-UBND``,
``125/UBND-TH``, ``20/2025/QĐ-UBND``) and Party rules (``05-NQ/TU``), numbered in issue order
per issuer and year (per Party committee term), at each issuer's yearly volume. Agency e-IDs
follow the catalogue's illustrative ``000.00.00.H25`` scheme.

Exactly ``round(records * defect_rate)`` files carry one defect each, the kinds taken in turn:
:data:`CONNECTOR_DEFECTS` make a file unparseable or unmappable (the connector dead-letters
it); :data:`VALIDATOR_DEFECTS` give a well-formed record that breaks a rule of
``document.record``. Every other file maps to a record that passes every rule. The answer key
(``answer_key.jsonl``, beside the exchange folder, never read by the connector) lists per file
its defect and the record the connector must produce.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import shutil
import unicodedata
from bisect import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from itertools import accumulate
from pathlib import Path
from typing import Any, Final, TypeVar
from xml.sax.saxutils import escape

from connectors.simulators import vietnamese_names as vn
from connectors.simulators.manifest import DatasetTally, SimulationManifest, simulation_start
from schemas.reference import AdminUnit, AdminUnits, load_admin_units

SYSTEM: Final = "document_management"
DATASET: Final = "document.record"
EXCHANGE_DIR: Final = "exchange"
ANSWER_KEY_FILE: Final = "answer_key.jsonl"

CONNECTOR_DEFECTS: Final[tuple[str, ...]] = (
    "truncated_xml",
    "xml_bomb",
    "external_entity",
    "invalid_json",
    "missing_element",
)
"""Defects that leave no record: the connector dead-letters the file."""
VALIDATOR_DEFECTS: Final[tuple[str, ...]] = (
    "bad_document_number",
    "bad_agency_id",
    "deadline_before_issue",
)
"""Defects that give a record breaking a rule of ``document.record``."""
DEFECT_KINDS: Final = CONNECTOR_DEFECTS + VALIDATOR_DEFECTS

EDXML_NAMESPACE: Final = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
REGISTER_NAMESPACE: Final = "urn:lgsp-hub:e-office:register:1"
XMLDSIG_NAMESPACE: Final = "http://www.w3.org/2000/09/xmldsig#"
XLINK_NAMESPACE: Final = "http://www.w3.org/1999/xlink"

VN_TZ: Final = timezone(timedelta(hours=7), "ICT")
# The two-level local government: no districts, a new commune list, from this day.
CUTOVER: Final = date(2025, 7, 1)
WINDOW_DAYS: Final = 150
PROVINCE_CODE: Final = "42"  # Hà Tĩnh
PROVINCE_NAME: Final = "Hà Tĩnh"

T = TypeVar("T")


@dataclass(frozen=True)
class _Agency:
    """An agency that issues or registers documents.

    Attributes:
        agency_id: e-ID (QCVN 102:2016).
        name: Full name, as edXML ``OrganName``.
        abbreviation: Its part of document symbols (``UBND`` in ``424/QĐ-UBND``).
        kind: Drives its document mix, volume and recipients.
        level: ``PROVINCE``, ``DISTRICT`` or ``COMMUNE`` for the province's agencies (they hold
            registers), ``CENTRAL`` for national ones (issuers only).
        units: Its handling units as (name, abbreviation for official-letter symbols).
        head: Signature block of its head, as (competence, position).
        deputy: Signature block of a deputy.
        parent: A commune's district e-ID (until 30 June 2025).
        until: Its last day, for districts and the communes of the old list.
    """

    agency_id: str
    name: str
    abbreviation: str
    kind: str
    level: str
    units: tuple[tuple[str, str], ...]
    head: tuple[str, str]
    deputy: tuple[str, str]
    parent: str | None = None
    until: date | None = None


_PEOPLES_COMMITTEE = (("TM. ỦY BAN NHÂN DÂN", "CHỦ TỊCH"), ("KT. CHỦ TỊCH", "PHÓ CHỦ TỊCH"))
_DEPARTMENT = (("", "GIÁM ĐỐC"), ("KT. GIÁM ĐỐC", "PHÓ GIÁM ĐỐC"))
_SECRETARIAT = ("Văn phòng Sở", "VP")

PROVINCE_AGENCIES: Final[tuple[_Agency, ...]] = (
    _Agency(
        "000.00.00.H25",
        "Ủy ban nhân dân tỉnh Hà Tĩnh",
        "UBND",
        "province",
        "PROVINCE",
        (
            ("Phòng Tổng hợp", "TH"),
            ("Phòng Kinh tế", "KT"),
            ("Phòng Khoa giáo – Văn xã", "KGVX"),
            ("Phòng Nội chính", "NC"),
            ("Phòng Nông nghiệp – Tài nguyên", "NL"),
            ("Phòng Xây dựng – Giao thông", "XD"),
        ),
        *_PEOPLES_COMMITTEE,
    ),
    _Agency(
        "000.00.01.H25",
        "Văn phòng Ủy ban nhân dân tỉnh Hà Tĩnh",
        "VPUB",
        "office",
        "PROVINCE",
        (
            ("Phòng Hành chính – Tổ chức", "HCTC"),
            ("Phòng Quản trị – Tài vụ", "QTTV"),
            ("Trung tâm Thông tin – Công báo", "TTCB"),
        ),
        ("", "CHÁNH VĂN PHÒNG"),
        ("KT. CHÁNH VĂN PHÒNG", "PHÓ CHÁNH VĂN PHÒNG"),
    ),
    _Agency(
        "000.00.02.H25",
        "Sở Nội vụ tỉnh Hà Tĩnh",
        "SNV",
        "department",
        "PROVINCE",
        (
            _SECRETARIAT,
            ("Phòng Tổ chức, biên chế", "TCBC"),
            ("Phòng Cải cách hành chính", "CCHC"),
            ("Phòng Xây dựng chính quyền", "XDCQ"),
        ),
        *_DEPARTMENT,
    ),
    _Agency(
        "000.00.03.H25",
        "Sở Xây dựng tỉnh Hà Tĩnh",
        "SXD",
        "department",
        "PROVINCE",
        (
            _SECRETARIAT,
            ("Phòng Quản lý hạ tầng giao thông", "QLHTGT"),
            ("Phòng Quản lý nhà và thị trường bất động sản", "QLN"),
        ),
        *_DEPARTMENT,
    ),
    _Agency(
        "000.00.04.H25",
        "Sở Giáo dục và Đào tạo tỉnh Hà Tĩnh",
        "SGDĐT",
        "department",
        "PROVINCE",
        (
            _SECRETARIAT,
            ("Phòng Giáo dục trung học", "GDTrH"),
            ("Phòng Khảo thí và Kiểm định chất lượng", "KTKĐ"),
        ),
        *_DEPARTMENT,
    ),
    _Agency(
        "000.00.05.H25",
        "Sở Y tế tỉnh Hà Tĩnh",
        "SYT",
        "department",
        "PROVINCE",
        (_SECRETARIAT, ("Phòng Nghiệp vụ Y", "NVY"), ("Phòng Kế hoạch – Tài chính", "KHTC")),
        *_DEPARTMENT,
    ),
    _Agency(
        "000.00.06.H25",
        "Sở Tài chính tỉnh Hà Tĩnh",
        "STC",
        "department",
        "PROVINCE",
        (
            _SECRETARIAT,
            ("Phòng Quản lý ngân sách", "QLNS"),
            ("Phòng Đăng ký kinh doanh", "ĐKKD"),
            ("Phòng Quản lý đầu tư", "QLĐT"),
        ),
        *_DEPARTMENT,
    ),
    _Agency(
        "000.00.07.H25",
        "Sở Nông nghiệp và Môi trường tỉnh Hà Tĩnh",
        "SNNMT",
        "department",
        "PROVINCE",
        (_SECRETARIAT, ("Phòng Quản lý đất đai", "QLĐĐ"), ("Phòng Kế hoạch – Tài chính", "KHTC")),
        *_DEPARTMENT,
    ),
    _Agency(
        "000.00.08.H25",
        "Sở Công Thương tỉnh Hà Tĩnh",
        "SCT",
        "department",
        "PROVINCE",
        (
            _SECRETARIAT,
            ("Phòng Quản lý thương mại", "QLTM"),
            ("Phòng Quản lý năng lượng", "QLNL"),
        ),
        *_DEPARTMENT,
    ),
    _Agency(
        "000.00.09.H25",
        "Sở Khoa học và Công nghệ tỉnh Hà Tĩnh",
        "SKHCN",
        "department",
        "PROVINCE",
        (_SECRETARIAT, ("Phòng Chuyển đổi số", "CĐS"), ("Phòng Bưu chính, Viễn thông", "BCVT")),
        *_DEPARTMENT,
    ),
    _Agency(
        "000.00.10.H25",
        "Công an tỉnh Hà Tĩnh",
        "CAT",
        "department",
        "PROVINCE",
        (
            ("Phòng Tham mưu", "PV01"),
            ("Phòng Cảnh sát quản lý hành chính về trật tự xã hội", "PC06"),
        ),
        *_DEPARTMENT,
    ),
    _Agency(
        "000.00.11.H25",
        "Sở Văn hóa, Thể thao và Du lịch tỉnh Hà Tĩnh",
        "SVHTTDL",
        "department",
        "PROVINCE",
        (_SECRETARIAT, ("Phòng Quản lý văn hóa", "QLVH"), ("Phòng Quản lý du lịch", "QLDL")),
        *_DEPARTMENT,
    ),
    _Agency(
        "000.00.12.H25",
        "Thanh tra tỉnh Hà Tĩnh",
        "TTr",
        "department",
        "PROVINCE",
        (("Văn phòng", "VP"), ("Phòng Nghiệp vụ 1", "NV1"), ("Phòng Nghiệp vụ 2", "NV2")),
        ("", "CHÁNH THANH TRA"),
        ("KT. CHÁNH THANH TRA", "PHÓ CHÁNH THANH TRA"),
    ),
    _Agency(
        "000.00.13.H25",
        "Sở Dân tộc và Tôn giáo tỉnh Hà Tĩnh",
        "SDTTG",
        "department",
        "PROVINCE",
        (_SECRETARIAT, ("Phòng Tôn giáo", "TG")),
        *_DEPARTMENT,
    ),
    _Agency(
        "000.00.17.H25",
        "Sở Tư pháp tỉnh Hà Tĩnh",
        "STP",
        "department",
        "PROVINCE",
        (
            _SECRETARIAT,
            ("Phòng Hành chính tư pháp", "HCTP"),
            ("Phòng Xây dựng và kiểm tra văn bản", "XDKTVB"),
        ),
        *_DEPARTMENT,
    ),
    _Agency(
        "000.00.15.H25",
        "Hội đồng nhân dân tỉnh Hà Tĩnh",
        "HĐND",
        "council",
        "PROVINCE",
        (("Văn phòng Đoàn đại biểu Quốc hội và Hội đồng nhân dân tỉnh", "VP"),),
        ("TM. THƯỜNG TRỰC HĐND", "CHỦ TỊCH"),
        ("KT. CHỦ TỊCH", "PHÓ CHỦ TỊCH"),
    ),
    # The Party Committee works in the Party's own e-office: it issues to the province's
    # agencies but keeps no register here.
    _Agency(
        "000.00.16.H25",
        "Tỉnh ủy Hà Tĩnh",
        "TU",
        "party",
        "PROVINCE",
        (("Văn phòng Tỉnh ủy", "VPTU"),),
        ("T/M BAN THƯỜNG VỤ", "BÍ THƯ"),
        ("T/M BAN THƯỜNG VỤ", "PHÓ BÍ THƯ"),
    ),
)
CENTRAL_AGENCIES: Final[tuple[_Agency, ...]] = (
    _Agency(
        "000.00.00.G22",
        "Văn phòng Chính phủ",
        "VPCP",
        "government_office",
        "CENTRAL",
        (("Vụ Tổng hợp", "TH"), ("Vụ Khoa giáo – Văn xã", "KGVX"), ("Vụ Kinh tế tổng hợp", "KTTH")),
        ("", "BỘ TRƯỞNG, CHỦ NHIỆM"),
        ("KT. BỘ TRƯỞNG, CHỦ NHIỆM", "PHÓ CHỦ NHIỆM"),
    ),
    _Agency(
        "000.00.00.G12",
        "Bộ Tài chính",
        "BTC",
        "ministry",
        "CENTRAL",
        (("Vụ Ngân sách nhà nước", "NSNN"), ("Cục Quản lý công sản", "QLCS")),
        ("", "BỘ TRƯỞNG"),
        ("KT. BỘ TRƯỞNG", "THỨ TRƯỞNG"),
    ),
)
_DISTRICT_UNITS: Final = (
    ("Văn phòng HĐND và UBND", "VP"),
    ("Phòng Tài chính – Kế hoạch", "TCKH"),
    ("Phòng Nội vụ", "NV"),
    ("Phòng Giáo dục và Đào tạo", "GDĐT"),
    ("Phòng Tài nguyên và Môi trường", "TNMT"),
    ("Phòng Tư pháp", "TP"),
)
# Communes of the three-level system had civil servants, not departments.
_OLD_COMMUNE_UNITS: Final = (
    ("Công chức Văn phòng – Thống kê", "VP"),
    ("Công chức Tài chính – Kế toán", "TCKT"),
    ("Công chức Địa chính – Xây dựng", "ĐCXD"),
    ("Công chức Tư pháp – Hộ tịch", "TPHT"),
    ("Công chức Văn hóa – Xã hội", "VHXH"),
)
_COMMUNE_UNITS: Final = (
    ("Văn phòng HĐND và UBND", "VP"),
    ("Phòng Kinh tế", "KT"),
    ("Phòng Văn hóa – Xã hội", "VHXH"),
    ("Trung tâm Phục vụ hành chính công", "TTPVHCC"),
)
_WARD_UNITS: Final = (
    ("Văn phòng HĐND và UBND", "VP"),
    ("Phòng Kinh tế, Hạ tầng và Đô thị", "KTHTĐT"),
    ("Phòng Văn hóa – Xã hội", "VHXH"),
    ("Trung tâm Phục vụ hành chính công", "TTPVHCC"),
)
# e-ID level-2 codes: districts 18-29 until 30 June 2025, communes 30-98 from 1 July 2025.
_FIRST_DISTRICT_CODE: Final = 18
_FIRST_COMMUNE_CODE: Final = 30
_UNIT_TYPES: Final = ("Thành phố", "Thị xã", "Thị trấn", "Huyện", "Phường", "Xã")


@dataclass(frozen=True)
class _DocType:
    """A document type: schema symbol, edXML ``TypeName``, symbol abbreviation.

    ``ordinal`` is its place in Article 7 of Decree 30/2020/NĐ-CP (edXML ``Type``); 0 for types
    outside that list.
    """

    symbol: str
    name: str
    abbreviation: str
    ordinal: int


DOC_TYPES: Final = {
    doc_type.symbol: doc_type
    for doc_type in (
        _DocType("NGHI_QUYET", "Nghị quyết", "NQ", 1),
        _DocType("QUYET_DINH", "Quyết định", "QĐ", 2),
        _DocType("CHI_THI", "Chỉ thị", "CT", 3),
        _DocType("THONG_BAO", "Thông báo", "TB", 7),
        _DocType("HUONG_DAN", "Hướng dẫn", "HD", 8),
        _DocType("KE_HOACH", "Kế hoạch", "KH", 10),
        _DocType("BAO_CAO", "Báo cáo", "BC", 14),
        _DocType("TO_TRINH", "Tờ trình", "TTr", 16),
        _DocType("CONG_VAN", "Công văn", "", 18),
        _DocType("CONG_DIEN", "Công điện", "CĐ", 19),
        _DocType("GIAY_MOI", "Giấy mời", "GM", 23),
        _DocType("THONG_TU", "Thông tư", "TT", 0),
    )
}

# Per issuer kind: (type, form, weight); form "admin" (424/QĐ-UBND, 125/UBND-TH), "legal"
# (legal normative, with the year: 20/2025/QĐ-UBND) or "party" (05-NQ/TU).
_MIX: Final[dict[str, tuple[tuple[str, str, float], ...]]] = {
    "province": (
        ("CONG_VAN", "admin", 50),
        ("QUYET_DINH", "admin", 22),
        ("KE_HOACH", "admin", 6),
        ("THONG_BAO", "admin", 6),
        ("BAO_CAO", "admin", 4),
        ("GIAY_MOI", "admin", 4),
        ("TO_TRINH", "admin", 2),
        ("CHI_THI", "admin", 1),
        ("CONG_DIEN", "admin", 1),
        ("QUYET_DINH", "legal", 2),
    ),
    "office": (("CONG_VAN", "admin", 70), ("THONG_BAO", "admin", 20), ("GIAY_MOI", "admin", 10)),
    "department": (
        ("CONG_VAN", "admin", 60),
        ("BAO_CAO", "admin", 9),
        ("QUYET_DINH", "admin", 8),
        ("KE_HOACH", "admin", 6),
        ("TO_TRINH", "admin", 6),
        ("GIAY_MOI", "admin", 5),
        ("THONG_BAO", "admin", 4),
        ("HUONG_DAN", "admin", 2),
    ),
    "council": (
        ("NGHI_QUYET", "legal", 30),
        ("NGHI_QUYET", "admin", 20),
        ("CONG_VAN", "admin", 30),
        ("THONG_BAO", "admin", 10),
        ("BAO_CAO", "admin", 10),
    ),
    "party": (
        ("CONG_VAN", "party", 45),
        ("THONG_BAO", "party", 25),
        ("KE_HOACH", "party", 15),
        ("NGHI_QUYET", "party", 5),
        ("CHI_THI", "party", 5),
        ("BAO_CAO", "party", 5),
    ),
    "district": (
        ("CONG_VAN", "admin", 55),
        ("BAO_CAO", "admin", 15),
        ("QUYET_DINH", "admin", 12),
        ("KE_HOACH", "admin", 8),
        ("TO_TRINH", "admin", 5),
        ("GIAY_MOI", "admin", 5),
    ),
    "commune": (
        ("CONG_VAN", "admin", 55),
        ("BAO_CAO", "admin", 18),
        ("QUYET_DINH", "admin", 10),
        ("KE_HOACH", "admin", 8),
        ("TO_TRINH", "admin", 6),
        ("GIAY_MOI", "admin", 3),
    ),
    "government_office": (("CONG_VAN", "admin", 75), ("THONG_BAO", "admin", 25)),
    "ministry": (("CONG_VAN", "admin", 80), ("QUYET_DINH", "admin", 10), ("THONG_TU", "legal", 10)),
}
# Documents a year per issuer of the kind, legal normative ones apart: they set the numbers.
_YEARLY: Final = {
    "province": 14_000,
    "office": 3_000,
    "department": 5_000,
    "council": 400,
    "party": 3_000,
    "district": 6_000,
    "commune": 1_500,
    "government_office": 40_000,
    "ministry": 70_000,
}
_YEARLY_LEGAL: Final = {"province": 60, "council": 40, "ministry": 120}
# Share of the documents held in this e-office system, by issuer kind.
_ISSUERS: Final = (
    ("province", 18.0),
    ("office", 3.0),
    ("department", 32.0),
    ("council", 1.5),
    ("party", 2.5),
    ("district", 12.0),
    ("commune", 22.0),
    ("government_office", 4.0),
    ("ministry", 5.0),
)
# Digital signature rates by issuer kind, and fully-online processing rates by holder level.
_SIGNED: Final = {
    "province": 0.95,
    "office": 0.95,
    "department": 0.93,
    "council": 0.9,
    "party": 0.7,
    "district": 0.88,
    "commune": 0.78,
    "government_office": 0.99,
    "ministry": 0.99,
}
_ONLINE: Final = {"PROVINCE": 0.95, "DISTRICT": 0.88, "COMMUNE": 0.72}
_DEADLINE_SHARE: Final = {
    "CONG_VAN": 0.6,
    "QUYET_DINH": 0.3,
    "CHI_THI": 0.4,
    "THONG_BAO": 0.3,
    "HUONG_DAN": 0.2,
    "KE_HOACH": 0.5,
    "BAO_CAO": 0.1,
    "TO_TRINH": 0.7,
    "CONG_DIEN": 0.9,
    "NGHI_QUYET": 0.1,
}
_DEADLINE_DAYS: Final = (3, 5, 7, 7, 10, 10, 15, 15, 20, 30)
_REVOKED_SHARE: Final = 0.006
_RETURNED_SHARE: Final = 0.015
# Status codes of edXML status messages (QCVN 102:2016) kept in a receiver's register.
_STATUS_CODES: Final = {
    "RETURNED": ("02",),
    "RECEIVED": ("03", "04"),
    "IN_PROGRESS": ("05",),
    "COMPLETED": ("06",),
    "WITHDRAWN": ("15",),
}
_FILE_FORMATS: Final = ((".edxml", 45.0), (".xml", 15.0), (".json", 40.0))

_TOPICS: Final = (
    "chuyển đổi số năm {year}",
    "Đề án 06 về phát triển ứng dụng dữ liệu dân cư, định danh và xác thực điện tử",
    "cải cách hành chính năm {year}",
    "phòng, chống thiên tai và tìm kiếm cứu nạn",
    "công tác tiếp công dân, giải quyết khiếu nại, tố cáo",
    "giải ngân vốn đầu tư công năm {year}",
    "thu ngân sách nhà nước năm {year}",
    "xây dựng nông thôn mới",
    "bảo đảm an toàn thông tin mạng",
    "quản lý, sử dụng tài sản công",
    "phòng cháy, chữa cháy và cứu nạn, cứu hộ",
    "bảo đảm trật tự, an toàn giao thông",
    "phòng, chống dịch bệnh trên gia súc, gia cầm",
    "giải phóng mặt bằng dự án đường bộ cao tốc Bắc – Nam",
    "thực hiện chính sách bảo hiểm xã hội, bảo hiểm y tế",
    "quản lý đất đai và khoáng sản",
    "thu hút đầu tư vào Khu kinh tế Vũng Áng",
    "công tác thi đua, khen thưởng năm {year}",
    "sắp xếp, tinh gọn tổ chức bộ máy",
    "cung cấp dịch vụ công trực tuyến toàn trình",
    "phòng, chống tham nhũng, tiêu cực",
    "hiến máu tình nguyện năm {year}",
)
_LEGAL_TOPICS: Final = (
    "mức chi hỗ trợ phát triển sản xuất nông nghiệp",
    "giá dịch vụ thu gom, vận chuyển rác thải sinh hoạt",
    "phân cấp quản lý tài sản công",
    "hạn mức giao đất ở",
    "mức thu học phí đối với cơ sở giáo dục công lập",
    "chính sách hỗ trợ phát triển du lịch cộng đồng",
)
_LETTER_VERBS: Final = (
    "triển khai thực hiện",
    "đôn đốc thực hiện",
    "tăng cường",
    "góp ý dự thảo kế hoạch",
    "báo cáo kết quả",
    "cung cấp thông tin về",
    "rà soát, tổng hợp số liệu về",
    "hướng dẫn thực hiện",
)
_DECISIONS: Final = (
    "Về việc phê duyệt Kế hoạch {topic}",
    "Về việc thành lập Tổ công tác {topic}",
    "Về việc kiện toàn Ban Chỉ đạo {topic}",
    "Về việc khen thưởng thành tích xuất sắc trong {topic}",
)
_DISPATCHES: Final = (
    "Về việc chủ động ứng phó với mưa lớn, lũ quét, sạt lở đất",
    "Về việc tập trung ứng phó với bão",
    "Về việc khẩn trương khắc phục hậu quả mưa lũ",
)
_BOMB_LEVELS: Final = 9
_EXTERNAL_TARGETS: Final = ("file:///etc/passwd", "file:///etc/hostname")


def simulate_document_management(
    out_dir: Path,
    records: int,
    defect_rate: float,
    seed: int = 42,
    *,
    start: datetime | None = None,
) -> SimulationManifest:
    """Write a simulated Hà Tĩnh e-office exchange folder, its answer key and manifest.

    Args:
        out_dir: Directory for the ``exchange`` folder (replaced if present), the answer key
            ``answer_key.jsonl`` and ``manifest.json``; created if missing.
        records: Number of register entries, one file each, at least 0.
        defect_rate: Share of files to spoil, between 0 and 1; exactly
            ``round(records * defect_rate)`` files get one defect each, the kinds of
            :data:`DEFECT_KINDS` in turn.
        seed: Seed for the random generator; equal arguments give identical files.
        start: Simulated "now" (a naive value is taken as UTC). Issue dates fall in the 150
            days before its date in Vietnam, every time before it. Defaults to the start of
            today (UTC).

    Returns:
        The manifest, also written to ``out_dir/manifest.json``; its ``source`` names the
        exchange folder (``directory``) and the answer key (``answer_key``).

    Raises:
        ValueError: If ``records`` is not an integer >= 0 or ``defect_rate`` is not a number
            between 0 and 1.
    """
    start_utc = simulation_start(records, defect_rate, start)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    builder = _Builder(random.Random(seed), start_utc, seed)
    entries = builder.build(records, round(records * defect_rate))

    # Written beside the target and swapped in, so a reader never sees half a folder.
    staging = out_dir / f".{EXCHANGE_DIR}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    key_path = out_dir / f".{ANSWER_KEY_FILE}.tmp"
    with key_path.open("w", encoding="utf-8") as key:
        for entry in entries:
            (staging / entry.file_name).write_bytes(builder.render(entry))
            key.write(json.dumps(builder.answer(entry), ensure_ascii=False) + "\n")
    target = out_dir / EXCHANGE_DIR
    shutil.rmtree(target, ignore_errors=True)
    os.replace(staging, target)
    os.replace(key_path, out_dir / ANSWER_KEY_FILE)

    by_kind = dict.fromkeys(DEFECT_KINDS, 0)
    for entry in entries:
        if entry.defect is not None:
            by_kind[entry.defect] += 1
    manifest = SimulationManifest(
        system=SYSTEM,
        datasets={
            DATASET: DatasetTally(
                records=records, defects_injected=sum(by_kind.values()), defects_by_kind=by_kind
            )
        },
        seed=seed,
        defect_rate=float(defect_rate),
        start=start_utc,
        created_at=datetime.now(UTC),
        source={"directory": EXCHANGE_DIR, "answer_key": ANSWER_KEY_FILE},
    )
    manifest.write(out_dir)
    return manifest


def _weighted(rand: Callable[[], float], items: Sequence[T], cum_weights: Sequence[float]) -> T:
    return items[bisect(cum_weights, rand() * cum_weights[-1], 0, len(items) - 1)]


def _cumulative(weighted: Sequence[tuple[T, float]]) -> tuple[list[T], list[float]]:
    return [value for value, _ in weighted], list(accumulate(weight for _, weight in weighted))


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _number(value: int) -> str:
    """A document number as Decree 30/2020 writes it: zero-padded below 10."""
    return f"{value:02d}" if value < 10 else str(value)


def _lower_type(unit_name: str) -> str:
    """``Huyện Hương Sơn`` as it follows ``Ủy ban nhân dân``: ``huyện Hương Sơn``."""
    for unit_type in _UNIT_TYPES:
        if unit_name.startswith(f"{unit_type} "):
            return unit_type.lower() + unit_name[len(unit_type) :]
    return unit_name


def _unaccented(text: str) -> str:
    stripped = unicodedata.normalize("NFD", text.replace("Đ", "D").replace("đ", "d"))
    return "".join(char for char in stripped if not unicodedata.combining(char))


def _committee(
    unit: AdminUnit,
    agency_id: str,
    level: str,
    units: tuple[tuple[str, str], ...],
    *,
    parent: str | None = None,
    until: date | None = None,
) -> _Agency:
    """The People's Committee of a district or commune."""
    return _Agency(
        agency_id,
        f"Ủy ban nhân dân {_lower_type(_nfc(unit.name))}",
        "UBND",
        level.lower(),
        level,
        units,
        *_PEOPLES_COMMITTEE,
        parent=parent,
        until=until,
    )


@dataclass
class _Roster:
    """The province's agencies in force on a day, by kind."""

    by_kind: dict[str, list[_Agency]]
    children: dict[str, list[_Agency]]  # a district's communes, by district e-ID


@dataclass
class _Document:
    issuer: _Agency
    issue_date: date
    doc_type: _DocType
    form: str
    drafting_unit: tuple[str, str]
    subject: str
    signer: tuple[str, str, str]  # competence, position, full name
    signed: bool
    recipients: list[_Agency]
    revoked: bool
    deadline: date | None
    priority: int
    steering: int
    pages: int
    copies: int
    appendices: int
    sent_at: datetime
    code_number: str = ""
    code_notation: str = ""


@dataclass
class _Entry:
    """One register entry: a document as one agency's register holds it, and its file."""

    document: _Document
    holder: _Agency
    direction: str
    received_at: datetime | None
    handling_unit: str | None
    status: str
    status_code: str | None
    processed_online: bool
    updated_at: datetime
    order: int
    holder_id: str = ""
    issuer_id: str = ""
    code_number: str = ""
    code_notation: str = ""
    deadline: date | None = None
    file_name: str = ""
    defect: str | None = None
    detail: str = ""
    omit: str | None = None
    variant: int = 0

    @property
    def number_symbol(self) -> str:
        separator = "-" if self.document.form == "party" else "/"
        return f"{self.code_number}{separator}{self.code_notation}"

    @property
    def suffix(self) -> str:
        return Path(self.file_name).suffix


class _Builder:
    """Generates documents, their register entries and defects, and renders the files."""

    def __init__(self, rng: random.Random, start: datetime, seed: int) -> None:
        self.rng = rng
        self.seed = seed
        self.start = start.astimezone(VN_TZ).replace(microsecond=0)
        self.last_issue = self.start.date() - timedelta(days=1)
        self.first_issue = self.start.date() - timedelta(days=WINDOW_DAYS)
        units = load_admin_units()
        old = self._roster(units, CUTOVER - timedelta(days=1), old_list=True)
        new = self._roster(units, CUTOVER, old_list=False)
        self.rosters = (old, new)
        self.signers: dict[str, tuple[tuple[str, str, str], list[tuple[str, str, str]]]] = {}
        self.family, self.family_weights = _cumulative(vn.FAMILY_NAMES)
        self.middles = {
            (female, older): _cumulative(table)
            for (female, older), table in {
                (False, True): vn.MIDDLE_NAMES_MALE_OLDER,
                (False, False): vn.MIDDLE_NAMES_MALE_YOUNGER,
                (True, True): vn.MIDDLE_NAMES_FEMALE_OLDER,
                (True, False): vn.MIDDLE_NAMES_FEMALE_YOUNGER,
            }.items()
        }
        self.given = {
            (False, True): vn.GIVEN_NAMES_MALE_OLDER,
            (False, False): vn.GIVEN_NAMES_MALE_YOUNGER,
            (True, True): vn.GIVEN_NAMES_FEMALE_OLDER,
            (True, False): vn.GIVEN_NAMES_FEMALE_YOUNGER,
        }
        self.issuer_kinds, self.issuer_weights = _cumulative(_ISSUERS)
        self.formats, self.format_weights = _cumulative(_FILE_FORMATS)
        self.variants: dict[str, int] = {}

    # -- agencies ---------------------------------------------------------------------------

    @staticmethod
    def _roster(units: AdminUnits, on: date, *, old_list: bool) -> _Roster:
        by_kind: dict[str, list[_Agency]] = {}
        for agency in PROVINCE_AGENCIES + CENTRAL_AGENCIES:
            by_kind.setdefault(agency.kind, []).append(agency)
        children: dict[str, list[_Agency]] = {}
        if old_list:
            last_day = CUTOVER - timedelta(days=1)
            districts = units.units("district", on, PROVINCE_CODE)
            by_kind["district"] = []
            by_kind["commune"] = []
            for position, district in enumerate(districts):
                level2 = _FIRST_DISTRICT_CODE + position
                committee = _committee(
                    district,
                    f"000.00.{level2:02d}.H25",
                    "DISTRICT",
                    _DISTRICT_UNITS,
                    until=last_day,
                )
                by_kind["district"].append(committee)
                communes = [
                    unit
                    for unit in units.units("commune", on, PROVINCE_CODE)
                    if unit.district_code == district.code
                ]
                children[committee.agency_id] = [
                    _committee(
                        commune,
                        f"000.{index + 1:02d}.{level2:02d}.H25",
                        "COMMUNE",
                        _OLD_COMMUNE_UNITS,
                        parent=committee.agency_id,
                        until=last_day,
                    )
                    for index, commune in enumerate(communes)
                ]
                by_kind["commune"].extend(children[committee.agency_id])
        else:
            by_kind["commune"] = [
                _committee(
                    commune,
                    f"000.00.{_FIRST_COMMUNE_CODE + index:02d}.H25",
                    "COMMUNE",
                    _WARD_UNITS if commune.name.startswith("Phường") else _COMMUNE_UNITS,
                )
                for index, commune in enumerate(units.units("commune", on, PROVINCE_CODE))
            ]
        return _Roster(by_kind, children)

    def _person(self) -> str:
        rand = self.rng.random
        # Leaders: mostly men, mostly born before the naming fashions of the late 1980s.
        female, older = rand() < 0.3, rand() < 0.85
        middles, weights = self.middles[(female, older)]
        family = _weighted(rand, self.family, self.family_weights)
        given = self.given[(female, older)]
        return f"{family} {_weighted(rand, middles, weights)} {given[int(rand() * len(given))]}"

    def _signer(self, agency: _Agency) -> tuple[str, str, str]:
        known = self.signers.get(agency.agency_id)
        if known is None:
            head = (*agency.head, self._person())
            deputies = [(*agency.deputy, self._person()) for _ in range(self.rng.randint(1, 3))]
            known = self.signers[agency.agency_id] = (head, deputies)
        head, deputies = known
        return head if self.rng.random() < 0.3 else self.rng.choice(deputies)

    # -- documents --------------------------------------------------------------------------

    def _issue_date(self) -> date:
        span = (self.last_issue - self.first_issue).days
        while True:
            day = self.first_issue + timedelta(days=self.rng.randint(0, span))
            # Offices work Monday to Friday, a few Saturday mornings, rarely on Sunday.
            weekday = day.weekday()
            if weekday < 5 or self.rng.random() < (0.15 if weekday == 5 else 0.03):
                return day

    def _subject(self, doc_type: _DocType, form: str, issuer: _Agency, day: date) -> str:
        rng = self.rng
        topic = rng.choice(_TOPICS).format(year=day.year)
        symbol = doc_type.symbol
        if form == "legal":
            if symbol == "THONG_TU":
                return f"Hướng dẫn quản lý, sử dụng kinh phí thực hiện {topic}"
            return f"Quy định {rng.choice(_LEGAL_TOPICS)} trên địa bàn tỉnh {PROVINCE_NAME}"
        if symbol == "CONG_VAN":
            return f"V/v {rng.choice(_LETTER_VERBS)} {topic}"
        if symbol == "QUYET_DINH":
            return rng.choice(_DECISIONS).format(topic=topic)
        if symbol == "NGHI_QUYET":
            if form == "party":
                return f"Về lãnh đạo, chỉ đạo {topic}"
            return f"Về việc thông qua Kế hoạch {topic}"
        if symbol == "CHI_THI":
            if form == "party":
                return f"Về tăng cường sự lãnh đạo của Đảng đối với {topic}"
            return f"Về tăng cường {topic}"
        if symbol == "KE_HOACH":
            return f"{rng.choice(('Triển khai', 'Thực hiện'))} {topic}"
        if symbol == "THONG_BAO":
            if form == "party":
                return f"Ý kiến của Thường trực Tỉnh ủy về {topic}"
            if issuer.kind == "government_office":
                return f"Kết luận của Phó Thủ tướng Chính phủ về {topic}"
            return f"Kết luận của lãnh đạo tại cuộc họp về {topic}"
        if symbol == "BAO_CAO":
            return f"Kết quả thực hiện {topic} tháng {day.month} năm {day.year}"
        if symbol == "TO_TRINH":
            return f"Đề nghị phê duyệt Kế hoạch {topic}"
        if symbol == "GIAY_MOI":
            return f"Dự hội nghị trực tuyến về {topic}"
        if symbol == "CONG_DIEN":
            return rng.choice(_DISPATCHES)
        return f"Hướng dẫn thực hiện {topic}"

    def _recipients(self, issuer: _Agency, roster: _Roster) -> list[_Agency]:
        rng = self.rng
        kinds = roster.by_kind
        province = kinds["province"][0]
        departments = kinds["department"]
        lower = kinds.get("district") or kinds["commune"]
        if kinds.get("district") and rng.random() < 0.4:
            lower = kinds["commune"]
        kind = issuer.kind
        roll = rng.random()
        if kind == "province":
            chosen = (
                rng.sample(departments, rng.randint(1, 4))
                if roll < 0.7
                else rng.sample(lower, rng.randint(1, 5))
            )
        elif kind == "office":
            chosen = rng.sample(departments, rng.randint(1, 3))
        elif kind == "department":
            others = [agency for agency in departments if agency is not issuer]
            if roll < 0.45:
                chosen = [province]
            elif roll < 0.8:
                chosen = rng.sample(others, rng.randint(1, 2))
            else:
                chosen = rng.sample(lower, rng.randint(1, 4))
        elif kind in ("council", "party", "government_office", "ministry"):
            chosen = [province, *rng.sample(departments, rng.randint(0, 2))]
            if kind == "party" and rng.random() < 0.3:
                chosen.append(kinds["council"][0])
        elif kind == "district":
            if roll < 0.6:
                chosen = [rng.choice([province, *departments])]
            else:
                communes = roster.children[issuer.agency_id]
                chosen = rng.sample(communes, min(len(communes), rng.randint(1, 4)))
        elif issuer.parent is not None:
            district = next(a for a in kinds["district"] if a.agency_id == issuer.parent)
            chosen = [district] if roll < 0.7 else [rng.choice(departments)]
        else:
            chosen = [province] if roll < 0.4 else [rng.choice(departments)]
        return chosen

    def _document(self) -> _Document:
        rng = self.rng
        rand = rng.random
        day = self._issue_date()
        roster = self.rosters[0 if day < CUTOVER else 1]
        while True:
            kind = _weighted(rand, self.issuer_kinds, self.issuer_weights)
            if roster.by_kind.get(kind):
                break
        issuer = rng.choice(roster.by_kind[kind])
        mix = _MIX[kind]
        type_symbol, form = _weighted(
            rand, [(symbol, form) for symbol, form, _ in mix], list(accumulate(w for *_, w in mix))
        )
        doc_type = DOC_TYPES[type_symbol]
        deadline = None
        if rand() < _DEADLINE_SHARE.get(type_symbol, 0.0):
            days = rng.randint(1, 3) if type_symbol == "CONG_DIEN" else rng.choice(_DEADLINE_DAYS)
            deadline = day + timedelta(days=days)
        priority = 3 if type_symbol == "CONG_DIEN" else _weighted(rand, (0, 1, 2), (85, 97, 100))
        steering = 1
        if type_symbol in ("CHI_THI", "CONG_DIEN") or (kind == "province" and rand() < 0.3):
            steering = 2
        elif type_symbol == "BAO_CAO":
            steering = 3
        recipients = self._recipients(issuer, roster)
        # Sent on the issue day as a rule, a day or two later now and then.
        delay = _weighted(rand, (0, 1, 2), (75, 95, 100))
        sent = datetime.combine(day + timedelta(days=delay), datetime.min.time(), VN_TZ)
        sent += timedelta(seconds=rng.randint(7 * 3600 + 1800, 17 * 3600 + 1800))
        sent = min(sent, self._horizon(issuer, *recipients) - timedelta(minutes=5))
        return _Document(
            issuer=issuer,
            issue_date=day,
            doc_type=doc_type,
            form=form,
            drafting_unit=rng.choice(issuer.units),
            subject=self._subject(doc_type, form, issuer, day),
            signer=self._signer(issuer),
            signed=rand() < _SIGNED[kind],
            recipients=recipients,
            revoked=rand() < _REVOKED_SHARE,
            deadline=deadline,
            priority=priority,
            steering=steering,
            pages=rng.randint(1, 4) if type_symbol == "CONG_VAN" else rng.randint(2, 25),
            copies=rng.randint(3, 40),
            appendices=rng.randint(1, 2) if type_symbol in ("KE_HOACH", "QUYET_DINH") else 0,
            sent_at=sent,
        )

    def _horizon(self, *agencies: _Agency) -> datetime:
        """The latest moment a register of all ``agencies`` can record: now, or their end."""
        horizon = self.start
        for agency in agencies:
            if agency.until is not None:
                end = datetime.combine(agency.until + timedelta(days=1), datetime.min.time(), VN_TZ)
                horizon = min(horizon, end)
        return horizon - timedelta(seconds=1)

    def _number(self, documents: list[_Document]) -> None:
        """Number documents in issue order per issuer and year (Party: per committee term)."""
        series: dict[tuple[str, str, int, str], list[_Document]] = {}
        for document in documents:
            year = document.issue_date.year
            if document.form == "party":
                # Provincial Party congresses meet in the autumn of years divisible by five.
                year -= year % 5
                if document.issue_date < date(year, 10, 1):
                    year -= 5
            abbreviation = document.doc_type.abbreviation or "CV"
            key = (document.issuer.agency_id, document.form, year, abbreviation)
            series.setdefault(key, []).append(document)
        for (_, form, year, _), members in series.items():
            issuer = members[0].issuer
            opened = date(year, 10, 1) if form == "party" else date(year, 1, 1)
            if form == "legal":
                per_day = _YEARLY_LEGAL[issuer.kind] / 365
            else:
                mix = _MIX[issuer.kind]
                share = sum(w for s, f, w in mix if (s, f) == (members[0].doc_type.symbol, form))
                per_day = _YEARLY[issuer.kind] * share / sum(w for *_, w in mix) / 365
            previous = 0
            for document in sorted(members, key=lambda d: d.issue_date):
                expected = per_day * (document.issue_date - opened).days * self.rng.uniform(0.9, 1)
                previous = max(previous + 1, int(expected) + 1)
                document.code_number = _number(previous)
                document.code_notation = self._notation(document)

    @staticmethod
    def _notation(document: _Document) -> str:
        issuer = document.issuer.abbreviation
        type_abbreviation = document.doc_type.abbreviation
        if document.form == "party":
            # Party official letters carry CV, as in 123-CV/TU.
            return f"{type_abbreviation or 'CV'}/{issuer}"
        if document.form == "legal":
            return f"{document.issue_date.year}/{type_abbreviation}-{issuer}"
        if not type_abbreviation:
            # Official letters name the issuer and the drafting unit: 125/UBND-TH.
            return f"{issuer}-{document.drafting_unit[1]}"
        return f"{type_abbreviation}-{issuer}"

    # -- register entries -------------------------------------------------------------------

    def _after(self, moment: datetime, low_s: int, high_s: int, horizon: datetime) -> datetime:
        """A moment ``low_s`` to ``high_s`` seconds after ``moment``, not past ``horizon``."""
        later = moment + timedelta(seconds=self.rng.randint(low_s, max(low_s, high_s)))
        return max(moment, min(later, horizon))

    def _entries(self, document: _Document, order: int) -> list[_Entry]:
        rng = self.rng
        rand = rng.random
        entries = []
        issuer = document.issuer
        if issuer.level != "CENTRAL" and issuer.kind != "party":
            horizon = self._horizon(issuer)
            if document.revoked:
                updated = self._after(document.sent_at, 86_400, 20 * 86_400, horizon)
            else:
                updated = self._after(document.sent_at, 0, 1800, horizon)
            entries.append(
                _Entry(
                    document=document,
                    holder=issuer,
                    direction="OUTGOING",
                    received_at=None,
                    handling_unit=document.drafting_unit[0],
                    status="WITHDRAWN" if document.revoked else "ISSUED",
                    status_code=None,
                    processed_online=document.signed and rand() < 0.96,
                    updated_at=updated,
                    order=order,
                )
            )
        for holder in document.recipients:
            horizon = self._horizon(issuer, holder)
            received = self._after(
                document.sent_at, 30, int(rng.expovariate(1 / 2400)) + 30, horizon
            )
            age_days = (horizon - received).total_seconds() / 86_400
            status = self._incoming_status(document, horizon.date(), age_days)
            if status == "RECEIVED":
                updated = self._after(received, 60, 4 * 3600, horizon)
            elif status == "RETURNED":
                updated = self._after(received, 600, 2 * 86_400, horizon)
            elif status == "WITHDRAWN":
                updated = self._after(received, 86_400, int(age_days * 86_400), horizon)
            else:
                span = (document.deadline - document.issue_date).days if document.deadline else 15
                updated = self._after(received, 3600, int(min(age_days, span) * 86_400), horizon)
            online = _ONLINE[holder.level] * (1.0 if document.signed else 0.6)
            entries.append(
                _Entry(
                    document=document,
                    holder=holder,
                    direction="INCOMING",
                    received_at=received,
                    handling_unit=(
                        None if status in ("RECEIVED", "RETURNED") else rng.choice(holder.units)[0]
                    ),
                    status=status,
                    status_code=rng.choice(_STATUS_CODES[status]),
                    processed_online=status != "RECEIVED" and rand() < online,
                    updated_at=updated,
                    order=order,
                )
            )
        return entries

    def _incoming_status(self, document: _Document, today: date, age_days: float) -> str:
        if document.revoked:
            return "WITHDRAWN"
        rand = self.rng.random
        if rand() < _RETURNED_SHARE:
            return "RETURNED"
        roll = rand()
        if age_days < 0.1:
            return "RECEIVED"
        if document.deadline is not None and document.deadline < today:
            return "COMPLETED" if roll < 0.88 else "IN_PROGRESS"
        if document.deadline is not None:
            return "COMPLETED" if roll < 0.35 else "IN_PROGRESS" if roll < 0.8 else "RECEIVED"
        # Sent for information: read and closed, mostly.
        return "COMPLETED" if roll < 0.65 else "IN_PROGRESS" if roll < 0.75 else "RECEIVED"

    def build(self, records: int, spoiled: int) -> list[_Entry]:
        """Generate ``records`` register entries, ``spoiled`` of them with one defect each."""
        documents: list[_Document] = []
        entries: list[_Entry] = []
        while len(entries) < records:
            document = self._document()
            documents.append(document)
            entries.extend(self._entries(document, len(entries)))
        del entries[records:]
        self._number(documents)
        for entry in entries:
            document = entry.document
            entry.holder_id = entry.holder.agency_id
            entry.issuer_id = document.issuer.agency_id
            entry.code_number = document.code_number
            entry.code_notation = document.code_notation
            entry.deadline = document.deadline
        # File names sort in export order: the e-office exports an entry when it changes.
        entries.sort(key=lambda entry: (entry.updated_at, entry.order))
        for index, entry in enumerate(entries):
            suffix = _weighted(self.rng.random, self.formats, self.format_weights)
            entry.file_name = f"{entry.updated_at:%Y%m%d-%H%M%S}-{index:06d}{suffix}"
        # Round-robin over a random sample: the kinds' counts differ by at most one.
        for position, index in enumerate(sorted(self.rng.sample(range(records), spoiled))):
            self._spoil(entries[index], DEFECT_KINDS[position % len(DEFECT_KINDS)])
        return entries

    # -- defects ----------------------------------------------------------------------------

    def _variant(self, kind: str) -> int:
        variant = self.variants.get(kind, 0)
        self.variants[kind] = variant + 1
        return variant

    def _spoil(self, entry: _Entry, kind: str) -> None:
        entry.defect = kind
        variant = entry.variant = self._variant(kind)
        stem = entry.file_name.rsplit(".", 1)[0]
        if kind in ("truncated_xml", "xml_bomb", "external_entity") and entry.suffix == ".json":
            entry.file_name = f"{stem}.edxml"
        elif kind == "invalid_json":
            entry.file_name = f"{stem}.json"
        if kind == "missing_element":
            paths = (
                ("number_symbol", "issue_date", "issuing_agency_id")
                if entry.suffix == ".json"
                else ("Code/CodeNumber", "PromulgationInfo/PromulgationDate", "From/OrganId")
            )
            entry.omit = paths[variant % len(paths)]
            entry.detail = f"no {entry.omit}"
        elif kind == "bad_document_number":
            self._bad_number(entry, variant)
        elif kind == "bad_agency_id":
            if variant % 2 == 0:
                entry.issuer_id = _bad_agency_id(entry.issuer_id, variant // 2)
                entry.detail = f"issuing_agency_id {entry.issuer_id}"
            else:
                entry.holder_id = _bad_agency_id(entry.holder_id, variant // 2)
                entry.detail = f"holder_agency_id {entry.holder_id}"
        elif kind == "deadline_before_issue":
            entry.deadline = entry.document.issue_date - timedelta(days=self.rng.randint(1, 15))
            entry.detail = (
                f"deadline {entry.deadline.isoformat()} before issue date "
                f"{entry.document.issue_date.isoformat()}"
            )

    def _bad_number(self, entry: _Entry, variant: int) -> None:
        """A mistyped number and symbol the edXML Code element can still carry."""
        notation = entry.code_notation
        party = entry.document.form == "party"
        if variant % 3 == 1 and "-" in notation:
            # Word processors turn the hyphen into an en dash.
            entry.code_notation = notation.replace("-", "–", 1)
            how = "en dash"
        elif variant % 3 == 2 and not party:
            wrong = entry.document.issue_date.year - 1
            if entry.document.form == "legal":
                entry.code_notation = f"{wrong}{notation[4:]}"
            else:
                entry.code_notation = f"{wrong}/{notation}"
            how = "year of another issue date"
        else:
            entry.code_number = f"0{entry.code_number}"
            how = "leading zero"
        entry.detail = f"number_symbol {entry.number_symbol} ({how})"

    # -- files ------------------------------------------------------------------------------

    def record(self, entry: _Entry) -> dict[str, Any]:
        """The record the connector must make of ``entry``, as JSON."""
        document = entry.document
        competence, position, signer = document.signer
        return {
            "holder_agency_id": entry.holder_id,
            "holder_level": entry.holder.level,
            "direction": entry.direction,
            "issuing_agency_id": entry.issuer_id,
            "issuing_agency_name": document.issuer.name,
            "issue_date": document.issue_date.isoformat(),
            "number_symbol": entry.number_symbol,
            # The schema files Party documents under KHAC whatever their own type.
            "document_type": "KHAC" if document.form == "party" else document.doc_type.symbol,
            "subject": document.subject,
            "signer_name": signer,
            "signer_title": f"{competence} {position}".strip(),
            "digitally_signed": document.signed,
            "received_at": None if entry.received_at is None else entry.received_at.isoformat(),
            "sent_at": document.sent_at.isoformat() if entry.direction == "OUTGOING" else None,
            "processing_deadline": None if entry.deadline is None else entry.deadline.isoformat(),
            "handling_unit": entry.handling_unit,
            "processing_status": entry.status,
            "processed_online": entry.processed_online,
            "updated_at": entry.updated_at.isoformat(),
        }

    def answer(self, entry: _Entry) -> dict[str, Any]:
        """The answer-key line of ``entry``."""
        stage = None
        if entry.defect in CONNECTOR_DEFECTS:
            stage = "connector"
        elif entry.defect in VALIDATOR_DEFECTS:
            stage = "validator"
        return {
            "file": entry.file_name,
            "format": "json" if entry.suffix == ".json" else "edxml",
            "direction": entry.direction,
            "defect": entry.defect,
            "stage": stage,
            "detail": entry.detail,
            "record": None if stage == "connector" else self.record(entry),
        }

    def render(self, entry: _Entry) -> bytes:
        """The bytes of ``entry``'s file, its defect applied."""
        if entry.suffix == ".json":
            data = self._json(entry).encode("utf-8")
        else:
            data = self._edxml(entry).encode("utf-8")
        if entry.defect == "truncated_xml" or (
            entry.defect == "invalid_json" and entry.variant % 2 == 0
        ):
            cut = self.rng.randint(len(data) * 3 // 10, len(data) * 9 // 10)
            entry.detail = f"cut after byte {cut} of {len(data)}"
            return data[:cut]
        if entry.defect == "invalid_json":
            entry.detail = "trailing comma"
            return data.rstrip()[:-1].rstrip() + b",\n}\n"
        if entry.defect in ("xml_bomb", "external_entity"):
            return self._hostile(entry, data.decode("utf-8")).encode("utf-8")
        return data

    def _hostile(self, entry: _Entry, text: str) -> str:
        """``text`` with a DTD whose entity replaces the subject: a bomb or an XXE probe."""
        variant = entry.variant
        if entry.defect == "xml_bomb":
            levels = [
                f'<!ENTITY lol{level} "{f"&lol{level - 1};" * 10}">'
                for level in range(1, _BOMB_LEVELS + 1)
            ]
            dtd = '<!DOCTYPE edXML [\n<!ENTITY lol0 "lol">\n' + "\n".join(levels) + "\n]>"
            reference = f"&lol{_BOMB_LEVELS};"
            entry.detail = f"billion laughs: 10^{_BOMB_LEVELS} copies of 'lol'"
        else:
            target = _EXTERNAL_TARGETS[variant // 2 % len(_EXTERNAL_TARGETS)]
            if variant % 2 == 0:
                dtd = f'<!DOCTYPE edXML [\n<!ENTITY xxe SYSTEM "{target}">\n]>'
                reference = "&xxe;"
                entry.detail = f"external entity -> {target}"
            else:
                # A parameter entity pulls the file into the DTD itself.
                dtd = f'<!DOCTYPE edXML [\n<!ENTITY % xxe SYSTEM "{target}">\n%xxe;\n]>'
                reference = ""
                entry.detail = f"external parameter entity -> {target}"
        declaration, _, rest = text.partition("\n")
        subject = f"<edXML:Subject>{escape(entry.document.subject)}</edXML:Subject>"
        return f"{declaration}\n{dtd}\n" + rest.replace(
            subject, f"<edXML:Subject>{reference}</edXML:Subject>"
        )

    def _digest(self, entry: _Entry, purpose: str, size: int) -> bytes:
        """Stable pseudo-random bytes for identifiers and signature values of a document."""
        document = entry.document
        seed = (
            f"{self.seed}|{purpose}|{document.issuer.agency_id}|{document.issue_date}|"
            f"{document.code_number}/{document.code_notation}"
        )
        out = b""
        counter = 0
        while len(out) < size:
            out += hashlib.sha256(f"{seed}|{counter}".encode()).digest()
            counter += 1
        return out[:size]

    def _attachments(self, entry: _Entry) -> list[tuple[str, str, str]]:
        """(attachment name, description, content id) of a document's files."""
        document = entry.document
        stem = _unaccented(f"{document.code_number}-{document.code_notation}").replace("/", "-")
        files = [(f"{stem}.signed.pdf" if document.signed else f"{stem}.pdf", "Văn bản chính")]
        files += [
            (f"{stem}-PL{number}.pdf", f"Phụ lục {number}")
            for number in range(1, document.appendices + 1)
        ]
        return [
            (name, description, self._digest(entry, name, 16).hex()) for name, description in files
        ]

    def _edxml(self, entry: _Entry) -> str:
        document = entry.document
        issuer = document.issuer
        omit = entry.omit

        def element(name: str, value: str | int, path: str | None = None) -> str:
            if path is not None and path == omit:
                return ""
            return f"<edXML:{name}>{escape(str(value))}</edXML:{name}>"

        def organisation(tag: str, organ_id: str, agency: _Agency) -> str:
            return (
                f"<edXML:{tag}>"
                + element("OrganId", organ_id, f"{tag}/OrganId")
                + element("OrganizationInCharge", _in_charge(agency))
                + element("OrganName", agency.name)
                + f"</edXML:{tag}>"
            )

        competence, position, signer = document.signer
        recipients = "".join(
            organisation("To", agency.agency_id, agency) for agency in document.recipients
        )
        places = [agency.name for agency in document.recipients]
        places.append(f"Lưu: VT, {document.drafting_unit[1]}.")
        traces = [(document.issuer.agency_id, document.sent_at)]
        if entry.received_at is not None:
            traces.append((entry.holder.agency_id, entry.received_at))
        revoked = document.revoked
        trace_id = self._digest(entry, "trace", 4).hex()
        header = [
            "<edXML:MessageHeader>",
            organisation("From", entry.issuer_id, issuer),
            recipients,
            "<edXML:Code>",
            element("CodeNumber", entry.code_number, "Code/CodeNumber"),
            element("CodeNotation", entry.code_notation),
            "</edXML:Code>",
            "<edXML:PromulgationInfo>",
            element("Place", _place(issuer)),
            element(
                "PromulgationDate",
                f"{document.issue_date:%Y/%m/%d}",
                "PromulgationInfo/PromulgationDate",
            ),
            "</edXML:PromulgationInfo>",
            "<edXML:DocumentType>",
            element("Type", document.doc_type.ordinal),
            element("TypeName", document.doc_type.name),
            element("TypeDetail", 0),
            "</edXML:DocumentType>",
            element("Subject", document.subject),
            "<edXML:SignerInfo>",
            element("Competence", competence),
            element("Position", position),
            element("FullName", signer),
            "</edXML:SignerInfo>",
            "" if entry.deadline is None else element("DueDate", f"{entry.deadline:%Y/%m/%d}"),
            "<edXML:ToPlaces>",
            *(element("Place", place) for place in places),
            "</edXML:ToPlaces>",
            "<edXML:OtherInfo>",
            element("Priority", document.priority),
            element("SphereOfPromulgation", "Liên thông văn bản"),
            element("TyperNotation", document.drafting_unit[1]),
            element("PromulgationAmount", document.copies),
            element("PageAmount", document.pages),
            "</edXML:OtherInfo>",
            element("SteeringType", document.steering),
            element(
                "DocumentId",
                f"{issuer.agency_id},{document.issue_date:%Y/%m/%d},"
                f"{document.code_number}/{document.code_notation}",
            ),
            "</edXML:MessageHeader>",
            f'<edXML:TraceHeaderList id="{trace_id}" version="1.0" mustUnderstand="1"'
            ' actor="http://schemas.xmlsoap.org/soap/actor/next">',
            *(
                "<edXML:TraceHeader>"
                + element("OrganId", organ_id)
                + element("Timestamp", f"{moment:%Y/%m/%d %H:%M:%S}")
                + "</edXML:TraceHeader>"
                for organ_id, moment in traces
            ),
            "<edXML:Bussiness>",
            element("BussinessDocType", 1 if revoked else 0),
            element(
                "BussinessDocReason",
                "Thu hồi văn bản do sai sót về thể thức" if revoked else "Văn bản điện tử mới",
            ),
            "<edXML:StaffInfo>",
            element("Department", document.drafting_unit[0]),
            element("Staff", "Văn thư"),
            "</edXML:StaffInfo>",
            element("Paper", 0),
            "</edXML:Bussiness>",
            "</edXML:TraceHeaderList>",
            self._signature(entry) if document.signed else "",
        ]
        references = [
            f'<edXML:Reference xmlns:xlink="{XLINK_NAMESPACE}" xlink:href="cid:{content_id}"'
            ' xlink:role="XLinkRole" xlink:type="simple">'
            + element("Description", description)
            + element("AttachmentName", name)
            + element("ContentType", "application/pdf")
            + element("ContentId", f"cid:{content_id}")
            + "</edXML:Reference>"
            for name, description, content_id in self._attachments(entry)
        ]
        register = [
            f'<eo:RegisterEntry xmlns:eo="{REGISTER_NAMESPACE}">',
            f"<eo:HolderOrganId>{escape(entry.holder_id)}</eo:HolderOrganId>",
            f"<eo:HolderLevel>{_LEVEL_CODES[entry.holder.level]}</eo:HolderLevel>",
            f"<eo:Direction>{'DEN' if entry.direction == 'INCOMING' else 'DI'}</eo:Direction>",
            ""
            if entry.handling_unit is None
            else f"<eo:HandlingUnit>{escape(entry.handling_unit)}</eo:HandlingUnit>",
            ""
            if entry.status_code is None
            else f"<eo:StatusCode>{entry.status_code}</eo:StatusCode>",
            f"<eo:ProcessedOnline>{str(entry.processed_online).lower()}</eo:ProcessedOnline>",
            f"<eo:UpdatedAt>{entry.updated_at:%Y/%m/%d %H:%M:%S}</eo:UpdatedAt>",
            "</eo:RegisterEntry>",
        ]
        lines = [
            '<?xml version="1.0" encoding="utf-8"?>',
            '<edXML xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
            f' xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns="{EDXML_NAMESPACE}">',
            f'<edXML:edXMLEnvelope xmlns:edXML="{EDXML_NAMESPACE}">',
            "<edXML:edXMLHeader>",
            *header,
            "</edXML:edXMLHeader>",
            "<edXML:edXMLBody>",
            '<edXML:edXMLManifest version="1.0">',
            *references,
            "</edXML:edXMLManifest>",
            "</edXML:edXMLBody>",
            "</edXML:edXMLEnvelope>",
            *register,
            "</edXML>",
        ]
        return "\n".join(line for line in lines if line) + "\n"

    def _signature(self, entry: _Entry) -> str:
        """An XML signature block (XMLDSig, RSA-SHA256) with simulated values."""
        issuer = entry.document.issuer
        digest = base64.b64encode(self._digest(entry, "digest", 32)).decode("ascii")
        value = base64.b64encode(self._digest(entry, "signature", 256)).decode("ascii")
        subject = f"CN={issuer.name}, O={issuer.name}, L={PROVINCE_NAME}, C=VN"
        return (
            f'<Signature xmlns="{XMLDSIG_NAMESPACE}"><SignedInfo>'
            '<CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>'
            '<SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>'
            '<Reference URI=""><Transforms>'
            '<Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>'
            "</Transforms>"
            '<DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>'
            f"<DigestValue>{digest}</DigestValue></Reference></SignedInfo>"
            f"<SignatureValue>{value}</SignatureValue>"
            f"<KeyInfo><X509Data><X509SubjectName>{escape(subject)}</X509SubjectName>"
            "</X509Data></KeyInfo></Signature>"
        )

    def _json(self, entry: _Entry) -> str:
        document = entry.document
        body: dict[str, Any] = {
            "document_id": (
                f"{document.issuer.agency_id},{document.issue_date:%Y/%m/%d},"
                f"{document.code_number}/{document.code_notation}"
            ),
            **self.record(entry),
            "recipients": [
                {"agency_id": agency.agency_id, "name": agency.name}
                for agency in document.recipients
            ],
            "attachments": [
                {"name": name, "description": description, "content_type": "application/pdf"}
                for name, description, _ in self._attachments(entry)
            ],
            "priority": document.priority,
            "page_amount": document.pages,
        }
        if entry.omit is not None:
            del body[entry.omit]
        return json.dumps(body, ensure_ascii=False, indent=2) + "\n"


_LEVEL_CODES: Final = {"PROVINCE": "TINH", "DISTRICT": "HUYEN", "COMMUNE": "XA"}


def _in_charge(agency: _Agency) -> str:
    """edXML ``OrganizationInCharge``: the body the agency answers to."""
    if agency.level == "CENTRAL":
        return "Chính phủ"
    if agency.kind in ("province", "council", "party"):
        return agency.name
    return PROVINCE_AGENCIES[0].name


def _place(agency: _Agency) -> str:
    """edXML ``Place`` of promulgation: Hà Nội for national bodies, else the province."""
    return "Hà Nội" if agency.level == "CENTRAL" else PROVINCE_NAME


def _bad_agency_id(agency_id: str, variant: int) -> str:
    """A mistyped e-ID: lower-case level-1 letter, a level dropped, or O typed for 0."""
    parts = agency_id.split(".")
    if variant % 3 == 0:
        return agency_id[:-3] + agency_id[-3].lower() + agency_id[-2:]
    if variant % 3 == 1:
        return ".".join(parts[:1] + parts[2:])
    return "0O" + agency_id[2:]
