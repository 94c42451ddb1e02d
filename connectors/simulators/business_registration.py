"""Business-registration (đăng ký doanh nghiệp) source simulator for Hà Tĩnh, and its HTTP API.

:func:`simulate_business_registration` writes the kind of registry the provincial business
registration office keeps: one enterprise per row of a SQLite file, each stored as the JSON
document the registry's API hands out, with a known number of deliberately spoiled records. The
answer key (which enterprises were spoiled, how, and which stage of the hub must catch it) is kept
in a separate ``defects`` table that the connector never reads.

:class:`BusinessRegistryApi` serves that file the way the registry's paginated JSON API does:
``GET /api/v1/enterprises`` behind an ``X-API-Key`` header, ordered by (update time, enterprise
code), with keyset cursors and, for tests, rate limiting (429 with ``Retry-After``) and server
errors on demand.

Every unspoiled enterprise is consistent: a valid enterprise code (Hà Tĩnh's tax prefix ``30``
for most, issued in registration order), a name that fits its legal form and trade, a head office
and branches in communes valid on the day of its last update, a legal representative whose
personal id is well formed, VSIC 2018 level-4 business lines with exactly one main line, dates
in order and before ``start``. Each spoiled enterprise breaks exactly one thing.

Legal representatives are shared with the population register
(:mod:`connectors.simulators.register`), read from the sibling ``population`` directory or the
``population`` argument: most are its residents, with their id and name, of age when the
enterprise last registered a change; the others are people it does not hold (founders living in
another province, foreign investors without a Vietnamese id). Spoiled residents of the register
are never named. Without a register, every representative is invented.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
import random
import secrets
import sqlite3
import threading
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from types import TracebackType
from typing import Annotated, Any, TypeVar

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response

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
from schemas.serving import BackgroundServer, BackgroundServerError

SYSTEM = "business_registration"
DATASET = "business.enterprise"
DATABASE_FILE = "business_registration.db"
TABLE = "enterprise"
DEFECTS_TABLE = "defects"

PROVINCE_CODE = "42"  # Hà Tĩnh
FIRST_REGISTRATION_YEAR = 1995
ENTERPRISES_PATH = "/api/v1/enterprises"
MAX_PAGE_SIZE = 1000

# Kinds the connector cannot map (dead letters at the source) and kinds the validator rejects;
# DEFECT_KINDS interleaves them so that even a handful of spoiled records reaches both stages.
CONNECTOR_DEFECTS: tuple[str, ...] = ("wrong_type", "missing_field")
VALIDATOR_DEFECTS: tuple[str, ...] = (
    "bad_check_digit",
    "branch_suffix_000",
    "two_main_lines",
    "unknown_commune",
)
DEFECT_KINDS: tuple[str, ...] = (
    "wrong_type",
    "bad_check_digit",
    "missing_field",
    "branch_suffix_000",
    "two_main_lines",
    "unknown_commune",
)
UNKNOWN_COMMUNE_CODE = "99999"

# Tax-department prefixes: almost all enterprises were registered in Hà Tĩnh (30); the rest
# moved their head office here and kept the code issued where they started.
CODE_PREFIXES: tuple[tuple[str, float], ...] = (
    ("30", 92.0),
    ("29", 3.0),  # Nghệ An
    ("01", 2.0),  # Hà Nội
    ("03", 1.0),  # Hồ Chí Minh City
    ("28", 1.0),  # Thanh Hóa
    ("31", 1.0),  # Quảng Bình
)
# Hà Tĩnh's sequences, handed out in registration order: 30001000xx for the oldest, 3001xxxxxx
# for recent ones. Household and personal tax codes share the space, hence the gaps.
HOME_SEQUENCES = range(100_000, 1_300_000)
OTHER_SEQUENCES = range(1, 10_000_000)
_CHECK_WEIGHTS = (31, 29, 23, 19, 17, 13, 7, 5, 3)

# Shares of the legal forms among Vietnamese enterprises, roughly.
LEGAL_FORMS: tuple[tuple[str, float], ...] = (
    ("SINGLE_MEMBER_LLC", 40.0),
    ("MULTI_MEMBER_LLC", 30.0),
    ("JOINT_STOCK_COMPANY", 17.0),
    ("PRIVATE_ENTERPRISE", 12.5),
    ("PARTNERSHIP", 0.5),
)
# Charter capital (invested capital for a private enterprise) in millions of đồng: log-uniform
# between these bounds.
CAPITAL_MILLIONS: dict[str, tuple[int, int]] = {
    "PRIVATE_ENTERPRISE": (100, 5_000),
    "SINGLE_MEMBER_LLC": (500, 20_000),
    "MULTI_MEMBER_LLC": (1_000, 30_000),
    "JOINT_STOCK_COMPANY": (3_000, 500_000),
    "PARTNERSHIP": (500, 5_000),
}
# A few joint-stock companies are the province's big investors (steel, power, ports).
LARGE_JSC_SHARE = 0.05
LARGE_JSC_MILLIONS = (500_000, 5_000_000)
BRANCH_SHARE: dict[str, float] = {
    "PRIVATE_ENTERPRISE": 0.08,
    "SINGLE_MEMBER_LLC": 0.12,
    "MULTI_MEMBER_LLC": 0.18,
    "JOINT_STOCK_COMPANY": 0.35,
    "PARTNERSHIP": 0.05,
}
REPRESENTATIVE_OFFICE_SHARE = 0.2
BRANCH_IN_PROVINCE_SHARE = 0.65
# Where branches outside Hà Tĩnh are: the neighbour and the big cities.
BRANCH_PROVINCES: tuple[tuple[str, float], ...] = (
    ("40", 35.0),  # Nghệ An
    ("01", 30.0),  # Hà Nội
    ("79", 20.0),  # Hồ Chí Minh City
    ("48", 15.0),  # Đà Nẵng
)
PROVINCE_SHOWN = {
    "40": "Nghệ An",
    "01": "Hà Nội",
    "79": "Thành phố Hồ Chí Minh",
    "48": "Đà Nẵng",
}
TITLES: dict[str, tuple[tuple[str, float], ...]] = {
    "PRIVATE_ENTERPRISE": (("Chủ doanh nghiệp", 1.0),),
    "SINGLE_MEMBER_LLC": (("Giám đốc", 70.0), ("Chủ tịch công ty", 30.0)),
    "MULTI_MEMBER_LLC": (("Giám đốc", 75.0), ("Chủ tịch Hội đồng thành viên", 25.0)),
    "JOINT_STOCK_COMPANY": (
        ("Tổng giám đốc", 40.0),
        ("Giám đốc", 30.0),
        ("Chủ tịch Hội đồng quản trị", 30.0),
    ),
    "PARTNERSHIP": (("Thành viên hợp danh", 1.0),),
}
# Where legal representatives the register does not hold had their birth registered.
REPRESENTATIVE_PROVINCES: tuple[tuple[str, float], ...] = (
    ("42", 85.0),
    ("40", 6.0),
    ("01", 3.0),
    ("38", 2.0),
    ("44", 2.0),
    ("79", 2.0),
)
REPRESENTATIVES_BORN_FROM = 1950
REPEAT_REPRESENTATIVE_SHARE = 0.06  # one person heads several enterprises
# With a population register, the share of representatives drawn from it when it has someone
# who fits; the others live in another province.
REGISTER_REPRESENTATIVE_SHARE = 0.88
REPRESENTATIVE_FEMALE_SHARE = 0.3
REPRESENTATIVE_AGES = (20, 76)  # at ``start``
ADULT_AGE = 18  # a representative is of age when the enterprise registers its last change
# Foreign-invested companies (Vũng Áng economic zone) may be represented by a foreigner, who
# has no Vietnamese personal id.
FOREIGN_REPRESENTATIVE_SHARE = 0.015
FOREIGN_REPRESENTATIVES: tuple[str, ...] = (
    "LIN CHIH-HAO", "CHEN WEI-LUN", "HUANG KUO-CHANG", "WANG MING-TE", "KIM JONG-SOO",
    "PARK SUNG-HO", "LEE JAE-WON", "TANAKA HIROSHI", "SUZUKI KENJI", "ZHANG WEI",
)  # fmt: skip
NOT_ACTIVE: tuple[tuple[str, float], ...] = (
    ("SUSPENDED", 35.0),
    ("DISSOLVING", 10.0),
    ("DISSOLVED", 35.0),
    ("REVOKED", 20.0),
)
LATER_CORRECTION_SHARE = 0.1  # a record touched after its last legal event (data clean-up)

# Vietnam is UTC+7 all year; the registry works 07:30-17:00 local time, so every update falls
# between 00:30 and 10:00 UTC of the same calendar day in both time zones.
OFFICE_OPENS_MS = 30 * 60_000
OFFICE_CLOSES_MS = 10 * 3_600_000
VIETNAM = timedelta(hours=7)

# VSIC 2018 level-4 codes (Decision 27/2018/QĐ-TTg) that Hà Tĩnh enterprises register.
VSIC: dict[str, str] = {
    "0118": "Trồng rau, đậu các loại và trồng hoa",
    "0121": "Trồng cây ăn quả",
    "0127": "Trồng cây chè",
    "0145": "Chăn nuôi lợn và sản xuất giống lợn",
    "0146": "Chăn nuôi gia cầm",
    "0210": "Trồng rừng, chăm sóc rừng và ươm giống cây lâm nghiệp",
    "0220": "Khai thác gỗ",
    "0311": "Khai thác thủy sản biển",
    "0321": "Nuôi trồng thủy sản biển",
    "0322": "Nuôi trồng thủy sản nội địa",
    "0710": "Khai thác quặng sắt",
    "0810": "Khai thác đá, cát, sỏi, đất sét",
    "1020": "Chế biến, bảo quản thủy sản và các sản phẩm từ thủy sản",
    "1061": "Xay xát và sản xuất bột thô",
    "1079": "Sản xuất thực phẩm khác chưa được phân vào đâu",
    "1104": "Sản xuất đồ uống không cồn, nước khoáng",
    "1610": "Cưa, xẻ, bào gỗ và bảo quản gỗ",
    "1621": "Sản xuất gỗ dán, gỗ lạng, ván ép và ván mỏng khác",
    "1622": "Sản xuất đồ gỗ xây dựng",
    "2392": "Sản xuất vật liệu xây dựng từ đất sét",
    "2395": "Sản xuất bê tông và các sản phẩm từ bê tông, xi măng và thạch cao",
    "2511": "Sản xuất các cấu kiện kim loại",
    "2592": "Gia công cơ khí; xử lý và tráng phủ kim loại",
    "3100": "Sản xuất giường, tủ, bàn, ghế",
    "3311": "Sửa chữa các sản phẩm kim loại đúc sẵn",
    "3511": "Sản xuất điện",
    "3600": "Khai thác, xử lý và cung cấp nước",
    "3811": "Thu gom rác thải không độc hại",
    "4101": "Xây dựng nhà để ở",
    "4102": "Xây dựng nhà không để ở",
    "4212": "Xây dựng công trình đường bộ",
    "4221": "Xây dựng công trình điện",
    "4222": "Xây dựng công trình cấp, thoát nước",
    "4291": "Xây dựng công trình thủy",
    "4299": "Xây dựng công trình kỹ thuật dân dụng khác",
    "4311": "Phá dỡ",
    "4312": "Chuẩn bị mặt bằng",
    "4321": "Lắp đặt hệ thống điện",
    "4322": "Lắp đặt hệ thống cấp, thoát nước, hệ thống sưởi và điều hoà không khí",
    "4330": "Hoàn thiện công trình xây dựng",
    "4390": "Hoạt động xây dựng chuyên dụng khác",
    "4511": "Bán buôn ô tô và xe có động cơ khác",
    "4520": "Bảo dưỡng, sửa chữa ô tô và xe có động cơ khác",
    "4530": "Bán phụ tùng và các bộ phận phụ trợ của ô tô và xe có động cơ khác",
    "4541": "Bán mô tô, xe máy",
    "4542": "Bảo dưỡng và sửa chữa mô tô, xe máy",
    "4610": "Đại lý, môi giới, đấu giá hàng hóa",
    "4620": "Bán buôn nông, lâm sản nguyên liệu (trừ gỗ, tre, nứa) và động vật sống",
    "4632": "Bán buôn thực phẩm",
    "4633": "Bán buôn đồ uống",
    "4649": "Bán buôn đồ dùng khác cho gia đình",
    "4651": "Bán buôn máy vi tính, thiết bị ngoại vi và phần mềm",
    "4652": "Bán buôn thiết bị và linh kiện điện tử, viễn thông",
    "4659": "Bán buôn máy móc, thiết bị và phụ tùng máy khác",
    "4661": "Bán buôn nhiên liệu rắn, lỏng, khí và các sản phẩm liên quan",
    "4662": "Bán buôn kim loại và quặng kim loại",
    "4663": "Bán buôn vật liệu, thiết bị lắp đặt khác trong xây dựng",
    "4669": "Bán buôn chuyên doanh khác chưa được phân vào đâu",
    "4711": "Bán lẻ lương thực, thực phẩm, đồ uống, thuốc lá, thuốc lào chiếm tỷ trọng lớn "
    "trong các cửa hàng kinh doanh tổng hợp",
    "4719": "Bán lẻ khác trong các cửa hàng kinh doanh tổng hợp",
    "4722": "Bán lẻ thực phẩm trong các cửa hàng chuyên doanh",
    "4730": "Bán lẻ nhiên liệu động cơ trong các cửa hàng chuyên doanh",
    "4741": "Bán lẻ máy vi tính, thiết bị ngoại vi, phần mềm và thiết bị viễn thông trong các "
    "cửa hàng chuyên doanh",
    "4752": "Bán lẻ đồ ngũ kim, sơn, kính và thiết bị lắp đặt khác trong xây dựng trong các "
    "cửa hàng chuyên doanh",
    "4772": "Bán lẻ thuốc, dụng cụ y tế, mỹ phẩm và vật phẩm vệ sinh trong các cửa hàng "
    "chuyên doanh",
    "4932": "Vận tải hành khách đường bộ khác",
    "4933": "Vận tải hàng hóa bằng đường bộ",
    "5012": "Vận tải hàng hóa ven biển và viễn dương",
    "5210": "Kho bãi và lưu giữ hàng hóa",
    "5224": "Bốc xếp hàng hóa",
    "5229": "Hoạt động dịch vụ hỗ trợ khác liên quan đến vận tải",
    "5510": "Dịch vụ lưu trú ngắn ngày",
    "5610": "Nhà hàng và các dịch vụ ăn uống phục vụ lưu động",
    "5630": "Dịch vụ phục vụ đồ uống",
    "6201": "Lập trình máy vi tính",
    "6202": "Tư vấn máy vi tính và quản trị hệ thống máy vi tính",
    "6209": "Hoạt động dịch vụ công nghệ thông tin và dịch vụ khác liên quan đến máy vi tính",
    "6311": "Xử lý dữ liệu, cho thuê và các hoạt động liên quan",
    "6810": "Kinh doanh bất động sản, quyền sử dụng đất thuộc chủ sở hữu, chủ sử dụng hoặc đi thuê",
    "6820": "Tư vấn, môi giới, đấu giá bất động sản, đấu giá quyền sử dụng đất",
    "6920": "Hoạt động liên quan đến kế toán, kiểm toán và tư vấn về thuế",
    "7020": "Hoạt động tư vấn quản lý",
    "7110": "Hoạt động kiến trúc và tư vấn kỹ thuật có liên quan",
    "7310": "Quảng cáo",
    "7730": "Cho thuê máy móc, thiết bị và đồ dùng hữu hình khác",
    "7911": "Đại lý du lịch",
    "7912": "Điều hành tua du lịch",
    "8129": "Vệ sinh công nghiệp và các công trình chuyên biệt",
    "8130": "Dịch vụ chăm sóc và duy trì cảnh quan",
    "8299": "Hoạt động dịch vụ hỗ trợ kinh doanh khác còn lại chưa được phân vào đâu",
    "8512": "Giáo dục mẫu giáo",
    "8559": "Giáo dục khác chưa được phân vào đâu",
    "8560": "Dịch vụ hỗ trợ giáo dục",
    "8620": "Hoạt động của các phòng khám đa khoa, chuyên khoa và nha khoa",
}
# Lines almost any trading company adds beside its own.
COMMON_LINES: tuple[str, ...] = ("4610", "4669", "7730", "8299", "4933")


@dataclass(frozen=True)
class _Trade:
    """A line of business: the words it puts in company names and the VSIC codes it registers."""

    vi: str
    en: str
    weight: float
    main: tuple[str, ...]
    related: tuple[str, ...]


TRADES: tuple[_Trade, ...] = (
    _Trade("Thương mại và Dịch vụ", "Trading and Services", 22.0,
           ("4669", "4649", "4632", "4719", "4610"),
           ("4620", "4633", "4652", "4659", "4663", "4711", "4722", "4752", "5610", "7730")),
    _Trade("Xây dựng", "Construction", 14.0, ("4101", "4102", "4212", "4299"),
           ("4221", "4222", "4291", "4311", "4312", "4321", "4322", "4330", "4390", "4663",
            "7110", "0810")),
    _Trade("Đầu tư và Xây dựng", "Investment and Construction", 6.0,
           ("4102", "4212", "4299", "6810"),
           ("4101", "4221", "4222", "4291", "4312", "4330", "4390", "7110", "6820")),
    _Trade("Vận tải", "Transport", 6.0, ("4933", "4932"),
           ("5210", "5224", "5229", "4520", "4530", "4661")),
    _Trade("Logistics", "Logistics", 2.0, ("5229", "5012", "5210"),
           ("4933", "5224", "4610")),
    _Trade("Vật liệu Xây dựng", "Building Materials", 5.0, ("4663", "2395", "2392"),
           ("0810", "4752", "4390", "2511")),
    _Trade("Nông nghiệp", "Agriculture", 4.0, ("0121", "0118", "0145", "0146", "0127"),
           ("4620", "1079", "0210", "4632", "1061")),
    _Trade("Thủy sản", "Seafood", 3.0, ("1020", "0311", "0321", "0322"),
           ("4632", "4620", "5210")),
    _Trade("Lâm nghiệp và Chế biến Gỗ", "Forestry and Wood Processing", 3.0,
           ("1610", "1621", "0210", "1622"), ("0220", "3100", "4620", "4663")),
    _Trade("Du lịch", "Tourism", 3.0, ("5510", "7912", "7911"),
           ("5610", "5630", "4932")),
    _Trade("Công nghệ Thông tin", "Information Technology", 3.0, ("6201", "6202", "6209"),
           ("4651", "4741", "6311", "7310", "8560")),
    _Trade("Cơ khí", "Mechanical Engineering", 3.0, ("2592", "2511"),
           ("3311", "4659", "4662", "4520", "4390")),
    _Trade("Xăng dầu", "Petroleum", 2.0, ("4730", "4661"), ("4520", "5210")),
    _Trade("Dược phẩm", "Pharmaceutical", 2.0, ("4772", "4649"), ("8620", "4659")),
    _Trade("Giáo dục", "Education", 1.5, ("8559", "8512"), ("8560", "7310")),
    _Trade("Tư vấn Thiết kế", "Design Consulting", 2.5, ("7110",),
           ("7020", "4101", "4212", "6920")),
    _Trade("Môi trường Đô thị", "Urban Environment", 1.5, ("3811", "8130"),
           ("8129", "3600", "4312")),
    _Trade("Năng lượng", "Energy", 1.0, ("3511",), ("4221", "4321", "7110")),
    _Trade("Khoáng sản", "Mining", 1.5, ("0810", "0710"), ("4662", "4312")),
    _Trade("Bất động sản", "Real Estate", 2.0, ("6810", "6820"), ("4101", "7110")),
    _Trade("Tư vấn Tài chính Kế toán", "Accounting and Finance Consulting", 1.0, ("6920",),
           ("7020",)),
    _Trade("Ô tô", "Automobile", 1.5, ("4511", "4520"), ("4530", "4541", "4542")),
    _Trade("Xuất nhập khẩu", "Import Export", 2.0, ("4610", "4669", "4620"),
           ("4662", "4632", "5229", "5210")),
    _Trade("Sản xuất và Thương mại", "Production and Trading", 3.0,
           ("1079", "3100", "1104", "1061"), ("4632", "4633", "4649")),
)  # fmt: skip

# Names of Hà Tĩnh's places and landmarks that companies take as their brand.
PLACE_BRANDS: tuple[str, ...] = (
    "Hồng Lĩnh", "Kỳ Anh", "Hương Sơn", "Đức Thọ", "Can Lộc", "Nghi Xuân", "Thạch Hà",
    "Cẩm Xuyên", "Hương Khê", "Vũ Quang", "Lộc Hà", "Thiên Cầm", "Vũng Áng", "Sơn Kim",
    "Cầu Treo", "Ngàn Phố", "Ngàn Sâu", "La Giang", "Trà Sơn", "Hoành Sơn", "Núi Hồng",
    "Lam Hồng", "Sông Lam", "Hà Tĩnh", "Hồng Lam", "Xuân Thành", "Kẻ Gỗ", "Đồng Lộc",
    "Cửa Sót", "Cửa Nhượng", "Thạch Kim", "Sơn Hồng",
)  # fmt: skip
# Auspicious words Vietnamese business owners name companies with.
WORD_BRANDS: tuple[str, ...] = (
    "Phú Thành", "Minh Anh", "Hoàng Long", "Thành Đạt", "Việt Á", "An Phát", "Hưng Thịnh",
    "Phúc Lộc", "Tân Phát", "Thịnh Vượng", "Đại Phát", "Trường Sơn", "Hải Đăng", "Nam Việt",
    "Miền Trung", "Tiến Đạt", "Quang Minh", "Hoàng Gia", "Phát Đạt", "Kim Long", "Hùng Cường",
    "Bảo An", "Thiên Phú", "Đông Á", "Sao Mai", "Bình Minh", "Vạn Xuân", "Nhật Minh",
    "Toàn Thắng", "An Khang", "Hưng Phát", "Thành Công", "Lộc Phát", "Gia Bảo", "Mạnh Hùng",
    "Trung Kiên", "Đức Anh", "Tuấn Minh", "Hải Nam", "Thái Sơn", "Vĩnh Phúc", "Tâm Đức",
    "Quốc Thịnh", "Hợp Nhất", "Đại Thành", "Phương Nam", "Bắc Hà", "Thanh Bình", "Hòa An",
    "Tân Hoàng Minh", "Việt Đức", "Trí Việt", "Ngọc Linh", "Anh Quân", "Khánh Hưng",
)  # fmt: skip
# Distinguishing words added when a name is taken (the law forbids identical names).
NAME_QUALIFIERS: tuple[str, ...] = ("Hà Tĩnh", "Miền Trung", "Việt Nam", "Bắc Trung Bộ")
UNIT_TYPES: tuple[str, ...] = ("Thành phố", "Thị xã", "Thị trấn", "Huyện", "Phường", "Xã", "Tỉnh")

# How the spoiled variants look.
CAPITAL_IN_WORDS: tuple[str, ...] = (
    "mười tỷ đồng", "năm tỷ đồng", "hai tỷ đồng", "năm trăm triệu đồng", "một tỷ rưỡi",
    "hai mươi tỷ đồng",
)  # fmt: skip
MISSING_FIELDS: tuple[str, ...] = ("legal_form", "first_registered_on", "head_office.commune_code")

T = TypeVar("T")


def simulate_business_registration(
    out_dir: Path,
    records: int,
    defect_rate: float,
    seed: int = 42,
    *,
    start: datetime | None = None,
    population: Path | None = None,
) -> SimulationManifest:
    """Write a simulated Hà Tĩnh business registry and its manifest into ``out_dir``.

    Args:
        out_dir: Directory for ``business_registration.db`` (replaced if present) and
            ``manifest.json``; created if missing.
        records: Number of enterprises, at least 0.
        defect_rate: Share of enterprises to spoil, between 0 and 1; exactly
            ``round(records * defect_rate)`` get one defect each, the kinds of
            :data:`DEFECT_KINDS` taking turns.
        seed: Seed for the random generator; equal arguments give identical registries.
        start: Simulated "now" (a naive value is taken as UTC), not before 2000-01-01. Every
            date and update time lies before its calendar day. Defaults to the start of today
            (UTC).
        population: The population register to draw legal representatives from: the
            population simulator's output directory or database. Defaults to the sibling
            directory ``population`` of ``out_dir`` if it holds one; without a register every
            representative is invented. Equal arguments and an equal register give identical
            registries.

    Returns:
        The manifest, also written to ``out_dir/manifest.json``; its ``source`` names the
        ``register`` (its database, relative to ``out_dir``) if one was used.

    Raises:
        ValueError: If ``records`` is not an integer >= 0, ``defect_rate`` is not a number
            between 0 and 1, or ``start`` is before 2000-01-01.
        RegisterError: If ``population`` names no readable population database.
    """
    start_utc = simulation_start(records, defect_rate, start)
    register = find_register(out_dir, population)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    builder = _RegistryBuilder(random.Random(seed), load_admin_units(), start_utc.date(), register)
    documents = builder.build(records, round(records * defect_rate))
    # Built beside the target and renamed, so a reader never sees a half-written registry.
    temp_path = out_dir / f".{DATABASE_FILE}.tmp"
    temp_path.unlink(missing_ok=True)
    _write(temp_path, documents, builder.defects)
    os.replace(temp_path, out_dir / DATABASE_FILE)

    by_kind = dict.fromkeys(DEFECT_KINDS, 0)
    for _, kind, _, _ in builder.defects:
        by_kind[kind] += 1
    source = {"database": DATABASE_FILE, "table": TABLE, "defects_table": DEFECTS_TABLE}
    if register is not None:
        source["register"] = register_location(out_dir, population)
    manifest = SimulationManifest(
        system=SYSTEM,
        datasets={
            DATASET: DatasetTally(
                records=records, defects_injected=len(builder.defects), defects_by_kind=by_kind
            )
        },
        seed=seed,
        defect_rate=float(defect_rate),
        start=start_utc,
        created_at=datetime.now(UTC),
        source=source,
    )
    manifest.write(out_dir)
    return manifest


@dataclass(frozen=True)
class Defect:
    """One spoiled enterprise in the answer key.

    Attributes:
        kind: One of :data:`DEFECT_KINDS`.
        stage: ``"connector"`` (cannot be mapped: a dead letter at the source) or
            ``"validator"`` (maps, but breaks a record rule).
        detail: What exactly was spoiled.
    """

    kind: str
    stage: str
    detail: str


def load_answer_key(out_dir: Path) -> dict[str, Defect]:
    """The spoiled enterprises of a simulated registry, by the enterprise code the API shows."""
    connection = sqlite3.connect(Path(out_dir) / DATABASE_FILE)
    try:
        rows = connection.execute(
            f"SELECT enterprise_code, kind, stage, detail FROM {DEFECTS_TABLE}"
        ).fetchall()
    finally:
        connection.close()
    return {code: Defect(kind, stage, detail) for code, kind, stage, detail in rows}


def amend_enterprise(
    out_dir: Path, enterprise_code: str, at: datetime, *, charter_capital: int | None = None
) -> dict[str, Any]:
    """Register an amendment in a simulated registry, as the registration office would.

    The amendment number goes up by one, the amendment date becomes ``at``'s date in Vietnam,
    the update time becomes ``at``, and the charter capital changes when given.

    Args:
        out_dir: The directory :func:`simulate_business_registration` wrote.
        enterprise_code: The enterprise to amend.
        at: When the amendment is registered (a naive value is taken as UTC).
        charter_capital: The new charter capital in đồng, if it changes.

    Returns:
        The enterprise's new document, as the API will serve it.

    Raises:
        KeyError: If the registry holds no such enterprise.
    """
    moment = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    connection = sqlite3.connect(Path(out_dir) / DATABASE_FILE)
    try:
        with connection:
            row = connection.execute(
                f"SELECT body FROM {TABLE} WHERE enterprise_code = ?", (enterprise_code,)
            ).fetchone()
            if row is None:
                raise KeyError(f"the registry holds no enterprise {enterprise_code}")
            document = json.loads(row[0])
            document["amendment_number"] = int(document.get("amendment_number") or 0) + 1
            document["amended_on"] = (moment + VIETNAM).date().isoformat()
            document["updated_at"] = _timestamp(moment)
            if charter_capital is not None:
                document["charter_capital"] = str(charter_capital)
            connection.execute(
                f"UPDATE {TABLE} SET updated_at = ?, body = ? WHERE enterprise_code = ?",
                (document["updated_at"], _dumps(document), enterprise_code),
            )
    finally:
        connection.close()
    return document


def enterprise_check_digit(first_nine: str) -> int | None:
    """The check digit of an enterprise code's first nine digits, ``None`` when it would be 10."""
    total = sum(
        int(digit) * weight for digit, weight in zip(first_nine, _CHECK_WEIGHTS, strict=True)
    )
    check = 10 - total % 11
    return None if check == 10 else check


# -- generation -------------------------------------------------------------------------------


def _weights(pairs: Sequence[tuple[T, float]]) -> tuple[list[T], list[float]]:
    """Values and cumulative weights, for ``random.choices``."""
    return [value for value, _ in pairs], list(accumulate(weight for _, weight in pairs))


def _bare(name: str) -> str:
    """A unit's name without its type: "Huyện Kỳ Anh" becomes "Kỳ Anh"."""
    # The published lists contain stray double spaces ("Thị trấn  Tây Sơn").
    name = " ".join(name.split())
    for unit_type in UNIT_TYPES:
        if name.startswith(unit_type + " "):
            return name[len(unit_type) + 1 :]
    return name


def _ascii_upper(text: str) -> str:
    """Vietnamese text as the upper-case ASCII that foreign names are written in."""
    decomposed = unicodedata.normalize("NFD", text.replace("Đ", "D").replace("đ", "d"))
    return "".join(char for char in decomposed if not unicodedata.combining(char)).upper()


def _timestamp(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds and ``Z``: sorts as text in time order."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class _Place:
    """A commune an office can be in, with the text that ends its address."""

    code: str
    address_suffix: str
    rural: bool
    area: str  # what "tại ..." and place brands call it: the district, else the commune


@dataclass
class _Enterprise:
    """One enterprise while it is generated; :meth:`document` is what the API serves."""

    code: str
    legal_form: str
    trade: _Trade
    name_vi: str
    name_foreign: str | None
    name_short: str | None
    head_office: _Place
    address: str
    capital: int
    representative: tuple[str, str | None, str]  # full name, personal id, title
    lines: list[dict[str, Any]]
    registered: int  # date ordinals
    amendments: int
    amended: int | None
    status: str
    updated: datetime
    branches: list[dict[str, str]] = field(default_factory=list)

    def document(self) -> dict[str, Any]:
        full_name, personal_id, title = self.representative
        amended_on = None if self.amended is None else date.fromordinal(self.amended).isoformat()
        return {
            "enterprise_code": self.code,
            "name_vi": self.name_vi,
            "name_foreign": self.name_foreign,
            "name_short": self.name_short,
            "legal_form": self.legal_form,
            "head_office": {"commune_code": self.head_office.code, "address": self.address},
            "charter_capital": str(self.capital),
            "legal_representative": {
                "full_name": full_name,
                "personal_id": personal_id,
                "title": title,
            },
            "business_lines": self.lines,
            "branches": self.branches,
            "first_registered_on": date.fromordinal(self.registered).isoformat(),
            "amendment_number": self.amendments,
            "amended_on": amended_on,
            "status": self.status,
            "updated_at": _timestamp(self.updated),
        }


class _RegistryBuilder:
    """Generates the enterprises, spoils the chosen ones and keeps the answer key."""

    def __init__(
        self,
        rng: random.Random,
        units: AdminUnits,
        start: date,
        register: PopulationRegister | None = None,
    ) -> None:
        self.rng = rng
        self.units = units
        self.register = register or PopulationRegister(())
        self.start_ordinal = start.toordinal()
        self.last_ordinal = self.start_ordinal - 1  # everything happens before start's day
        self.all_commune_codes = {unit.code for unit in units if unit.level == "commune"}
        self._places: dict[tuple[str, str], list[_Place]] = {}
        self._variants: dict[str, int] = {}
        self._names: set[str] = set()
        self.issuer = ids.PersonalIdIssuer(rng)
        # Nobody invented here may receive an id a resident of the register holds.
        self.issuer.reserve(self.register.issued)
        # Name, id and (latest possible) birth date of everyone heading an enterprise.
        self._representatives: list[tuple[str, str, date]] = []
        self._chosen: set[str] = set()  # residents heading an enterprise already
        self._codes: set[str] = set()
        self.defects: list[tuple[str, str, str, str]] = []  # code, kind, stage, detail

        self._prefixes = _weights(CODE_PREFIXES)
        self._forms = _weights(LEGAL_FORMS)
        self._trades = _weights([(trade, trade.weight) for trade in TRADES])
        self._titles = {form: _weights(titles) for form, titles in TITLES.items()}
        self._id_provinces = _weights(REPRESENTATIVE_PROVINCES)
        self._not_active = _weights(NOT_ACTIVE)
        self._branch_provinces = _weights(BRANCH_PROVINCES)
        self._years = self._registration_years()

    def _choice(self, weighted: tuple[list[T], list[float]]) -> T:
        values, cum_weights = weighted
        return self.rng.choices(values, cum_weights=cum_weights)[0]

    def _variant(self, kind: str) -> int:
        variant = self._variants.get(kind, 0)
        self._variants[kind] = variant + 1
        return variant

    def _spoiled(self, code: str, kind: str, detail: str) -> None:
        stage = "connector" if kind in CONNECTOR_DEFECTS else "validator"
        self.defects.append((code, kind, stage, detail))

    def build(self, records: int, spoiled: int) -> list[dict[str, Any]]:
        """Generate ``records`` enterprise documents, ``spoiled`` of them with one defect."""
        kinds: dict[int, str] = {}
        # Round-robin over a random sample: the kinds' counts differ by at most one.
        for position, index in enumerate(self.rng.sample(range(records), spoiled)):
            kinds[index] = DEFECT_KINDS[position % len(DEFECT_KINDS)]
        # Registration order, so Hà Tĩnh's codes can be handed out in ascending order.
        registered = sorted(self._registration_date() for _ in range(records))
        enterprises = [self._enterprise(ordinal) for ordinal in registered]
        self._assign_codes(enterprises)
        documents = []
        for index, enterprise in enumerate(enterprises):
            kind = kinds.get(index)
            if kind == "bad_check_digit":
                self._bad_check_digit(enterprise)
            elif kind == "two_main_lines":
                self._two_main_lines(enterprise)
            self._branches(enterprise, at_least_one=kind == "branch_suffix_000")
            document = enterprise.document()
            if kind is not None and kind not in ("bad_check_digit", "two_main_lines"):
                self._spoil_document(document, kind)
            documents.append(document)
        return documents

    # -- dates ------------------------------------------------------------------------------

    def _registration_years(self) -> tuple[list[tuple[int, int]], list[float]]:
        """Each year's first and last day (up to start), weighted by registrations per year."""
        spans: list[tuple[int, int]] = []
        weights: list[float] = []
        for year in range(FIRST_REGISTRATION_YEAR, date.fromordinal(self.last_ordinal).year + 1):
            low = date(year, 1, 1).toordinal()
            high = min(date(year, 12, 31).toordinal(), self.last_ordinal)
            # Registrations grew with the Enterprise Laws of 1999, 2005, 2014 and 2020.
            per_day = 1.0 if year < 2000 else 3.0 if year < 2010 else 6.0 if year < 2020 else 9.0
            spans.append((low, high))
            weights.append(per_day * (high - low + 1))
        return spans, list(accumulate(weights))

    def _registration_date(self) -> int:
        low, high = self._choice(self._years)
        return self._working_day(self.rng.randint(low, high), low, high)

    def _working_day(self, ordinal: int, low: int, high: int) -> int:
        """The office is shut at weekends: move to the Friday before or the Monday after."""
        weekday = date.fromordinal(ordinal).weekday()
        if weekday < 5:
            return ordinal
        for candidate in (ordinal - (weekday - 4), ordinal + (7 - weekday)):
            if low <= candidate <= high:
                return candidate
        return ordinal

    def _later_day(self, after: int) -> int | None:
        """A working day at least a month after ``after`` and before start, if there is one."""
        low = after + 30
        if low > self.last_ordinal:
            return None
        return self._working_day(self.rng.randint(low, self.last_ordinal), low, self.last_ordinal)

    # -- places -----------------------------------------------------------------------------

    def _places_of(self, province: str, on: int) -> list[_Place]:
        """Communes of ``province`` in the list in force on the day ``on``."""
        day = date.fromordinal(on)
        list_id = self.units.list_for(day).list_id
        places = self._places.get((province, list_id))
        if places is None:
            places = [self._place(unit, day) for unit in self.units.units("commune", day, province)]
            # Sorted, so the draw does not depend on the reference file's order.
            places.sort(key=lambda place: place.code)
            self._places[(province, list_id)] = places
        return places

    def _place(self, unit: AdminUnit, on: date) -> _Place:
        names = [unit.name]
        area = _bare(unit.name)
        if unit.district_code is not None:
            district = self.units.get(unit.district_code, "district", on)
            if district is not None:
                names.append(district.name)
                area = _bare(district.name)
        province = self.units.get(unit.province_code, "province", on)
        if province is not None:
            names.append(province.name)
        suffix = ", ".join(" ".join(name.split()) for name in names)
        return _Place(unit.code, suffix, unit.name.startswith("Xã"), area)

    def _address(self, place: _Place) -> str:
        rng = self.rng
        if place.rural:
            if rng.random() < 0.7:
                return f"Thôn {rng.choice(vn.VILLAGES)}, {place.address_suffix}"
            return f"Xóm {rng.randint(1, 15)}, {place.address_suffix}"
        roll = rng.random()
        if roll < 0.6:
            return (
                f"Số {rng.randint(1, 250)} đường {rng.choice(vn.STREETS)}, {place.address_suffix}"
            )
        if roll < 0.85:
            return f"Tổ dân phố {rng.randint(1, 20)}, {place.address_suffix}"
        return f"Ngõ {rng.randint(1, 60)} đường {rng.choice(vn.STREETS)}, {place.address_suffix}"

    # -- the enterprise ---------------------------------------------------------------------

    def _enterprise(self, registered: int) -> _Enterprise:
        rng = self.rng
        form = self._choice(self._forms)
        trade = self._choice(self._trades)

        amendments, amended = 0, None
        if rng.random() >= 0.4:
            amended = self._later_day(registered)
            if amended is not None:
                amendments = 1 + min(int(rng.expovariate(0.4)), 19)
        last_event = amended or registered
        status = "ACTIVE"
        age_years = (self.start_ordinal - registered) / 365.25
        # Older enterprises are likelier to have stopped trading.
        if rng.random() < min(0.4, 0.02 + 0.025 * age_years):
            changed = self._later_day(last_event)
            if changed is not None:
                status = self._choice(self._not_active)
                last_event = changed
        if rng.random() < LATER_CORRECTION_SHARE:
            last_event = self._working_day(
                rng.randint(last_event, self.last_ordinal), last_event, self.last_ordinal
            )
        updated = datetime.combine(date.fromordinal(last_event), datetime.min.time(), UTC)
        updated += timedelta(milliseconds=rng.randrange(OFFICE_OPENS_MS, OFFICE_CLOSES_MS))

        # The head office is where the registry says it is at the last update.
        head_office = rng.choice(self._places_of(PROVINCE_CODE, last_event))
        name_vi, brand = self._name(form, trade, head_office)
        name_foreign, name_short = self._foreign_names(form, trade, brand)
        low, high = CAPITAL_MILLIONS[form]
        if form == "JOINT_STOCK_COMPANY" and rng.random() < LARGE_JSC_SHARE:
            low, high = LARGE_JSC_MILLIONS
        millions = math.exp(rng.uniform(math.log(low), math.log(high)))
        # Owners declare round sums: two significant figures.
        step = 10 ** max(0, int(math.log10(millions)) - 1)
        capital = max(low, round(millions / step) * step) * 1_000_000
        return _Enterprise(
            code="",
            legal_form=form,
            trade=trade,
            name_vi=name_vi,
            name_foreign=name_foreign,
            name_short=name_short,
            head_office=head_office,
            address=self._address(head_office),
            capital=capital,
            representative=self._representative(form, amended or registered),
            lines=self._lines(trade),
            registered=registered,
            amendments=amendments,
            amended=amended,
            status=status,
            updated=updated,
        )

    def _name(self, form: str, trade: _Trade, head_office: _Place) -> tuple[str, str]:
        """A name not yet taken, and the brand in it."""
        rng = self.rng
        for attempt in range(40):
            roll = rng.random()
            if roll < 0.2:
                brand = head_office.area
            elif roll < 0.45:
                brand = rng.choice(PLACE_BRANDS)
            else:
                brand = rng.choice(WORD_BRANDS)
            if attempt >= 20:
                brand = f"{brand} {rng.choice(NAME_QUALIFIERS)}"
            if attempt >= 30:
                brand = f"{brand} {rng.randint(1, 99)}"
            name = self._full_company_name(form, trade, brand)
            if name.casefold() not in self._names:
                self._names.add(name.casefold())
                return name, brand
        raise RuntimeError("no free company name left; add brands to the simulator")

    def _full_company_name(self, form: str, trade: _Trade, brand: str) -> str:
        rng = self.rng
        if form == "PRIVATE_ENTERPRISE":
            words = f"{trade.vi} {brand}" if rng.random() < 0.5 else brand
            return f"Doanh nghiệp tư nhân {words}"
        if form == "SINGLE_MEMBER_LLC":
            roll = rng.random()
            kind = "TNHH" if roll < 0.45 else "TNHH Một thành viên" if roll < 0.8 else "TNHH MTV"
        elif form == "MULTI_MEMBER_LLC":
            kind = "TNHH"
        elif form == "JOINT_STOCK_COMPANY":
            kind = "Cổ phần"
        else:
            kind = "Hợp danh"
        return f"Công ty {kind} {trade.vi} {brand}"

    def _foreign_names(self, form: str, trade: _Trade, brand: str) -> tuple[str | None, str | None]:
        rng = self.rng
        if form == "PRIVATE_ENTERPRISE" or rng.random() < 0.35:
            return None, None
        words = f"{_ascii_upper(brand)} {trade.en.upper()}"
        if form == "JOINT_STOCK_COMPANY":
            foreign, short = f"{words} JOINT STOCK COMPANY", f"{_ascii_upper(brand)} JSC"
        elif form == "PARTNERSHIP":
            foreign, short = f"{words} PARTNERSHIP", f"{_ascii_upper(brand)} PARTNERSHIP"
        elif form == "SINGLE_MEMBER_LLC" and rng.random() < 0.5:
            foreign, short = (
                f"{words} ONE MEMBER COMPANY LIMITED",
                f"{_ascii_upper(brand)} CO., LTD",
            )
        else:
            foreign, short = f"{words} COMPANY LIMITED", f"{_ascii_upper(brand)} CO., LTD"
        return foreign, short if rng.random() < 0.7 else None

    def _representative(self, form: str, appointed: int) -> tuple[str, str | None, str]:
        """Name, id and title of the legal representative appointed on the day ``appointed``."""
        rng = self.rng
        title = self._choice(self._titles[form])
        if form in ("JOINT_STOCK_COMPANY", "MULTI_MEMBER_LLC") and (
            rng.random() < FOREIGN_REPRESENTATIVE_SHARE
        ):
            return rng.choice(FOREIGN_REPRESENTATIVES), None, title
        appointed_on = date.fromordinal(appointed)
        if self._representatives and rng.random() < REPEAT_REPRESENTATIVE_SHARE:
            full_name, personal_id, born = rng.choice(self._representatives)
            # Someone who heads another enterprise, if of age back then; else someone new.
            if age_on(born, appointed_on) >= ADULT_AGE:
                return full_name, personal_id, title
        female = rng.random() < REPRESENTATIVE_FEMALE_SHARE
        if rng.random() < REGISTER_REPRESENTATIVE_SHARE:
            resident = self._resident(female, appointed_on)
            if resident is not None:
                self._chosen.add(resident.personal_id)
                self._representatives.append(
                    (resident.full_name, resident.personal_id, resident.born)
                )
                return resident.full_name, resident.personal_id, title
        # Someone the register does not hold; of age on the day, born by the end of the year.
        youngest_year = min(
            date.fromordinal(self.start_ordinal).year - REPRESENTATIVE_AGES[0],
            appointed_on.year - ADULT_AGE - 1,
        )
        born = rng.randint(REPRESENTATIVES_BORN_FROM, youngest_year)
        full_name = ids.full_name(rng, ids.family_name(rng), female, born)
        personal_id = self.issuer.issue(self._choice(self._id_provinces), born, female)
        self._representatives.append((full_name, personal_id, date(born, 12, 31)))
        return full_name, personal_id, title

    def _resident(self, female: bool, appointed: date) -> Resident | None:
        """A resident of age on ``appointed`` who heads no enterprise yet, if one turns up."""

        def fits(resident: Resident) -> bool:
            return (
                resident.age_on(appointed) >= ADULT_AGE and resident.personal_id not in self._chosen
            )

        start = date.fromordinal(self.start_ordinal)
        youngest, oldest = REPRESENTATIVE_AGES
        # Of age back then, so at least this old now.
        youngest = max(youngest, ADULT_AGE + age_on(appointed, start))
        return self.register.draw(
            self.rng, on=start, ages=(youngest, oldest), female=female, accept=fits
        )

    def _lines(self, trade: _Trade) -> list[dict[str, Any]]:
        rng = self.rng
        main = rng.choice(trade.main)
        others = sorted(
            {*trade.main, *trade.related, *COMMON_LINES} - {main}
        )  # sorted: sets of text iterate in a per-process order
        count = min(len(others), int(rng.expovariate(1 / 5)))
        codes = [main, *rng.sample(others, count)]
        return [{"code": code, "name": VSIC[code], "main": code == main} for code in sorted(codes)]

    def _assign_codes(self, enterprises: list[_Enterprise]) -> None:
        used = self._codes
        home: list[_Enterprise] = []
        for enterprise in enterprises:
            prefix = self._choice(self._prefixes)
            if prefix == "30":
                home.append(enterprise)
            else:
                enterprise.code = self._new_code(prefix, OTHER_SEQUENCES, used)
        # Hà Tĩnh issues sequences in order: an older enterprise has the smaller code.
        codes = sorted(self._new_code("30", HOME_SEQUENCES, used) for _ in home)
        for enterprise, code in zip(home, codes, strict=True):
            enterprise.code = code

    def _new_code(self, prefix: str, sequences: range, used: set[str]) -> str:
        while True:
            first_nine = f"{prefix}{self.rng.choice(sequences):07d}"
            check = enterprise_check_digit(first_nine)
            # A check value of 10 means no valid code starts so: the office skips it.
            if check is not None and f"{first_nine}{check}" not in used:
                used.add(f"{first_nine}{check}")
                return f"{first_nine}{check}"

    def _branches(self, enterprise: _Enterprise, *, at_least_one: bool) -> None:
        rng = self.rng
        count = 0
        # A dissolved or revoked enterprise's branches were closed with it.
        closed = enterprise.status in ("DISSOLVED", "REVOKED")
        if at_least_one or (not closed and rng.random() < BRANCH_SHARE[enterprise.legal_form]):
            count = 1 + min(int(rng.expovariate(1.2)), 4)
        on = enterprise.updated.date().toordinal()
        suffix = 0
        for _ in range(count):
            # Closed branches leave gaps: their suffixes are never reissued.
            suffix += 2 if rng.random() < 0.15 else 1
            if rng.random() < BRANCH_IN_PROVINCE_SHARE:
                place = rng.choice(self._places_of(PROVINCE_CODE, on))
                area = place.area
            else:
                province = self._choice(self._branch_provinces)
                place = rng.choice(self._places_of(province, on))
                area = PROVINCE_SHOWN[province]
            kind = (
                "Văn phòng đại diện" if rng.random() < REPRESENTATIVE_OFFICE_SHARE else "Chi nhánh"
            )
            enterprise.branches.append(
                {
                    "branch_code": f"{enterprise.code}-{suffix:03d}",
                    "name": f"{kind} {enterprise.name_vi} tại {area}",
                    "address": self._address(place),
                    "commune_code": place.code,
                }
            )

    # -- defects ----------------------------------------------------------------------------

    def _bad_check_digit(self, enterprise: _Enterprise) -> None:
        """A mistyped last digit, or nine digits that no valid code starts with."""
        rng = self.rng
        original = enterprise.code
        variant = self._variant("bad_check_digit") % 2
        while True:
            if variant == 0:
                digit = rng.choice([d for d in "0123456789" if d != original[9]])
                candidate = original[:9] + digit
                detail = f"check digit {digit}, digits 1-9 give {original[9]}"
            else:
                first_nine = f"{original[:2]}{rng.choice(OTHER_SEQUENCES):07d}"
                if enterprise_check_digit(first_nine) is not None:
                    continue
                candidate = first_nine + rng.choice("0123456789")
                detail = "digits 1-9 give check value 10"
            if candidate not in self._codes:
                break
        self._codes.add(candidate)
        enterprise.code = candidate
        self._spoiled(candidate, "bad_check_digit", detail)

    def _two_main_lines(self, enterprise: _Enterprise) -> None:
        lines = enterprise.lines
        if len(lines) == 1:
            extra = self.rng.choice(sorted(set(enterprise.trade.related) - {lines[0]["code"]}))
            lines.append({"code": extra, "name": VSIC[extra], "main": False})
            lines.sort(key=lambda line: line["code"])
        second = self.rng.choice([line for line in lines if not line["main"]])
        second["main"] = True
        mains = ", ".join(line["code"] for line in lines if line["main"])
        self._spoiled(enterprise.code, "two_main_lines", f"main lines {mains}")

    def _spoil_document(self, document: dict[str, Any], kind: str) -> None:
        """Apply ``kind`` to an enterprise's document and record it in the answer key."""
        rng = self.rng
        code = document["enterprise_code"]
        variant = self._variant(kind)
        if kind == "wrong_type":
            variant %= 3
            if variant == 0:
                words = rng.choice(CAPITAL_IN_WORDS)
                document["charter_capital"] = words
                detail = f"charter_capital {words!r}"
            elif variant == 1:
                # Thousands separated the Vietnamese way: 10.000.000.000.
                dotted = f"{int(document['charter_capital']):,}".replace(",", ".")
                document["charter_capital"] = dotted
                detail = f"charter_capital {dotted!r}"
            else:
                registered = date.fromisoformat(document["first_registered_on"])
                written = f"{registered:%d/%m/%Y}"
                document["first_registered_on"] = written
                detail = f"first_registered_on {written!r}"
        elif kind == "missing_field":
            path = MISSING_FIELDS[variant % len(MISSING_FIELDS)]
            holder = document
            *parents, name = path.split(".")
            for parent in parents:
                holder = holder[parent]
            del holder[name]
            detail = f"{path} missing"
        elif kind == "branch_suffix_000":
            branch = document["branches"][0]
            branch["branch_code"] = f"{code}-000"
            detail = f"branch code {code}-000"
        else:  # unknown_commune
            if variant % 2 == 0:
                unknown = UNKNOWN_COMMUNE_CODE
            else:
                while True:
                    unknown = f"{rng.randrange(10_000, 100_000):05d}"
                    if unknown not in self.all_commune_codes:
                        break
            document["head_office"]["commune_code"] = unknown
            detail = f"head_office.commune_code {unknown}"
        self._spoiled(code, kind, detail)


def _write(path: Path, documents: list[dict[str, Any]], defects: list[tuple[str, ...]]) -> None:
    connection = sqlite3.connect(path)
    try:
        connection.execute(
            f"CREATE TABLE {TABLE} (enterprise_code TEXT NOT NULL PRIMARY KEY, "
            "updated_at TEXT NOT NULL, body TEXT NOT NULL)"
        )
        connection.execute(
            f"CREATE TABLE {DEFECTS_TABLE} (enterprise_code TEXT NOT NULL PRIMARY KEY, "
            "kind TEXT NOT NULL, stage TEXT NOT NULL, detail TEXT NOT NULL)"
        )
        with connection:
            connection.executemany(
                f"INSERT INTO {TABLE} VALUES (?, ?, ?)",
                sorted(
                    (document["enterprise_code"], document["updated_at"], _dumps(document))
                    for document in documents
                ),
            )
            connection.executemany(
                f"INSERT INTO {DEFECTS_TABLE} VALUES (?, ?, ?, ?)", sorted(defects)
            )
            # The API pages in this order.
            connection.execute(
                f"CREATE INDEX {TABLE}_updated_at_key ON {TABLE} (updated_at, enterprise_code)"
            )
    finally:
        connection.close()


# -- the API ----------------------------------------------------------------------------------


# Starting the simulated API fails the way any background server does.
BusinessRegistryApiError = BackgroundServerError


@dataclass(frozen=True)
class ApiRequest:
    """One request the API answered.

    Attributes:
        number: 1 for the first request to ``/api/``, counting every one.
        method: HTTP method.
        path: URL path.
        params: Query parameters.
        status: HTTP status of the answer.
    """

    number: int
    method: str
    path: str
    params: dict[str, str]
    status: int


def _encode_cursor(updated_at: str, code: str) -> str:
    raw = json.dumps([updated_at, code], separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        updated_at, code = json.loads(raw)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise ValueError("cursor is not one this API issued") from exc
    if not (isinstance(updated_at, str) and isinstance(code, str)):
        raise ValueError("cursor is not one this API issued")
    return updated_at, code


def _error(
    status: int, error: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    return JSONResponse({"error": error, "message": message}, status_code=status, headers=headers)


def create_registry_app(
    database: Path,
    api_key: str,
    *,
    rate_limit_every: int | None = None,
    retry_after_s: int = 1,
    fail_every: int | None = None,
    on_request: Callable[[ApiRequest], None] | None = None,
) -> FastAPI:
    """The registry's API over a simulated registry file.

    Args:
        database: The SQLite file :func:`simulate_business_registration` wrote.
        api_key: The key clients must send in ``X-API-Key``.
        rate_limit_every: Answer every Nth request to ``/api/`` with 429 and ``Retry-After``.
        retry_after_s: The ``Retry-After`` of those answers, in seconds.
        fail_every: Answer every Mth request to ``/api/`` with 500 (rate limiting wins when
            both fall on one request).
        on_request: Called with every request to ``/api/`` once answered.
    """
    app = FastAPI(title="Hệ thống thông tin quốc gia về đăng ký doanh nghiệp (mô phỏng)")
    counter = {"requests": 0}
    lock = threading.Lock()

    @app.middleware("http")
    async def gate(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if not request.url.path.startswith("/api/"):
            return await call_next(request)
        with lock:
            counter["requests"] += 1
            number = counter["requests"]
        given = request.headers.get("x-api-key", "")
        if not secrets.compare_digest(given.encode("utf-8"), api_key.encode("utf-8")):
            response = _error(401, "unauthorized", "missing or invalid X-API-Key header")
        elif rate_limit_every and number % rate_limit_every == 0:
            response = _error(
                429,
                "rate_limited",
                "too many requests; retry later",
                headers={"Retry-After": str(retry_after_s)},
            )
        elif fail_every and number % fail_every == 0:
            response = _error(500, "internal", "simulated server failure")
        else:
            response = await call_next(request)
        if on_request is not None:
            on_request(
                ApiRequest(
                    number,
                    request.method,
                    request.url.path,
                    dict(request.query_params),
                    response.status_code,
                )
            )
        return response

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(ENTERPRISES_PATH)
    def enterprises(
        updated_since: Annotated[str | None, Query()] = None,
        cursor: Annotated[str | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 100,
    ) -> Response:
        """Enterprises by (updated_at, enterprise_code); a cursor continues after its item."""
        if cursor:
            try:
                after = _decode_cursor(cursor)
            except ValueError as exc:
                return _error(400, "bad_cursor", str(exc))
            where = "WHERE updated_at > ? OR (updated_at = ? AND enterprise_code > ?)"
            params: tuple[Any, ...] = (after[0], after[0], after[1])
        elif updated_since:
            try:
                since = datetime.fromisoformat(updated_since)
            except ValueError:
                return _error(400, "bad_updated_since", f"{updated_since!r} is not ISO-8601")
            # Stored times have milliseconds; truncating keeps the filter inclusive.
            where, params = (
                "WHERE updated_at >= ?",
                (_timestamp(since.replace(tzinfo=since.tzinfo or UTC)),),
            )
        else:
            where, params = "", ()
        connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        try:
            rows = connection.execute(
                f"SELECT body, updated_at, enterprise_code FROM {TABLE} {where} "
                "ORDER BY updated_at, enterprise_code LIMIT ?",
                (*params, limit + 1),
            ).fetchall()
        finally:
            connection.close()
        # One row more than asked tells whether another page exists.
        next_cursor = (
            _encode_cursor(rows[limit - 1][1], rows[limit - 1][2]) if len(rows) > limit else None
        )
        items = ",".join(body for body, _, _ in rows[:limit])
        content = f'{{"items":[{items}],"next_cursor":{json.dumps(next_cursor)}}}'
        return Response(content.encode("utf-8"), media_type="application/json")

    return app


class BusinessRegistryApi:
    """The simulated registry's API, served by uvicorn in a background thread.

    Args:
        source: The directory :func:`simulate_business_registration` wrote (its manifest names
            the registry file).
        api_key: The key clients must send in ``X-API-Key``.
        rate_limit_every: Answer every Nth request with 429 and ``Retry-After``; off by default.
        retry_after_s: Seconds in those ``Retry-After`` headers.
        fail_every: Answer every Mth request with 500; off by default.
        host: Interface to listen on.
        port: Port to listen on; 0 picks a free one.
        startup_timeout: Seconds ``start()`` waits for the API to answer.
    """

    def __init__(
        self,
        source: Path,
        api_key: str,
        *,
        rate_limit_every: int | None = None,
        retry_after_s: int = 1,
        fail_every: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        startup_timeout: float = 10.0,
    ) -> None:
        for name, every in (("rate_limit_every", rate_limit_every), ("fail_every", fail_every)):
            if every is not None and every < 1:
                raise ValueError(f"{name} must be at least 1 (or None for never), got {every}")
        if retry_after_s < 0:
            raise ValueError(f"retry_after_s must not be negative, got {retry_after_s}")
        manifest = SimulationManifest.read(source)
        self._database = Path(source) / manifest.source["database"]
        self._api_key = api_key
        self._faults = {
            "rate_limit_every": rate_limit_every,
            "retry_after_s": retry_after_s,
            "fail_every": fail_every,
        }
        self._server = BackgroundServer(
            "the business registry API",
            "/health",
            host=host,
            port=port,
            startup_timeout=startup_timeout,
        )
        self._log: list[ApiRequest] = []
        self._log_lock = threading.Lock()

    @property
    def url(self) -> str:
        """Base URL of the running API, e.g. ``http://127.0.0.1:40123``."""
        return self._server.url

    @property
    def requests(self) -> list[ApiRequest]:
        """Every request to ``/api/`` answered so far, in order."""
        with self._log_lock:
            return list(self._log)

    @property
    def request_count(self) -> int:
        """How many requests to ``/api/`` were answered, failed ones included."""
        with self._log_lock:
            return len(self._log)

    def _record(self, request: ApiRequest) -> None:
        with self._log_lock:
            self._log.append(request)

    def start(self) -> BusinessRegistryApi:
        """Start serving and wait until the API answers."""
        if self._server.running:
            raise BusinessRegistryApiError("the business registry API is already started")
        app = create_registry_app(
            self._database, self._api_key, on_request=self._record, **self._faults
        )
        self._server.serve(app, "lgsp-business-registry-api")
        return self

    def stop(self) -> None:
        """Shut the API down; safe to call twice."""
        self._server.stop()

    def __enter__(self) -> BusinessRegistryApi:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
