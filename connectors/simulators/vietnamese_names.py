"""Vietnamese personal names and address words for the source simulators (Unicode NFC).

Weights are rough shares, not census figures: they only need to make generated data look like
a north-central province (Hà Tĩnh). Naming fashions changed after the 1980s, so middle and given
names come in an older and a younger generation.
"""

from __future__ import annotations

# Family names with rough national shares in percent; Hà Tĩnh also has many Võ, Hồ, Phan, Đặng.
FAMILY_NAMES: tuple[tuple[str, float], ...] = (
    ("Nguyễn", 30.0),
    ("Trần", 10.5),
    ("Lê", 9.0),
    ("Phạm", 6.0),
    ("Hoàng", 4.0),
    ("Phan", 5.0),
    ("Võ", 4.5),
    ("Vũ", 1.5),
    ("Đặng", 3.0),
    ("Bùi", 2.0),
    ("Đỗ", 1.5),
    ("Hồ", 3.0),
    ("Ngô", 1.5),
    ("Dương", 1.5),
    ("Lý", 0.5),
    ("Đinh", 1.5),
    ("Thái", 1.0),
    ("Trương", 1.0),
    ("Hà", 1.0),
    ("Đoàn", 0.8),
    ("Lương", 0.6),
    ("Mai", 0.6),
    ("Cao", 0.6),
    ("Chu", 0.4),
    ("Tôn", 0.3),
)

MIDDLE_NAMES_MALE_OLDER: tuple[tuple[str, float], ...] = (
    ("Văn", 68.0),
    ("Đình", 8.0),
    ("Hữu", 7.0),
    ("Xuân", 5.0),
    ("Công", 5.0),
    ("Đức", 4.0),
    ("Quang", 3.0),
)

MIDDLE_NAMES_MALE_YOUNGER: tuple[tuple[str, float], ...] = (
    ("Văn", 22.0),
    ("Đức", 10.0),
    ("Minh", 12.0),
    ("Quang", 8.0),
    ("Hoàng", 6.0),
    ("Gia", 6.0),
    ("Anh", 4.0),
    ("Thành", 5.0),
    ("Bảo", 5.0),
    ("Hữu", 5.0),
    ("Công", 5.0),
    ("Đình", 5.0),
    ("Trọng", 4.0),
    ("Xuân", 4.0),
    ("Thanh", 4.0),
    ("Ngọc", 3.0),
)

MIDDLE_NAMES_FEMALE_OLDER: tuple[tuple[str, float], ...] = (
    ("Thị", 84.0),
    ("Ngọc", 4.0),
    ("Thanh", 3.0),
    ("Kim", 3.0),
    ("Thu", 3.0),
    ("Hồng", 3.0),
)

MIDDLE_NAMES_FEMALE_YOUNGER: tuple[tuple[str, float], ...] = (
    ("Thị", 34.0),
    ("Ngọc", 8.0),
    ("Thu", 6.0),
    ("Thanh", 5.0),
    ("Phương", 5.0),
    ("Thùy", 5.0),
    ("Bảo", 5.0),
    ("Khánh", 5.0),
    ("Minh", 5.0),
    ("Hồng", 4.0),
    ("Mai", 4.0),
    ("Kim", 3.0),
    ("Diệu", 3.0),
    ("Hải", 3.0),
    ("Quỳnh", 3.0),
    ("Tuệ", 2.0),
)

GIVEN_NAMES_MALE_OLDER: tuple[str, ...] = (
    "Hùng", "Dũng", "Tuấn", "Minh", "Nam", "Long", "Hải", "Sơn", "Thắng", "Cường",
    "Chiến", "Bình", "Hòa", "Thọ", "Lợi", "Tư", "Sáu", "Thanh", "Trung", "Tâm",
    "Thành", "Hưng", "Vinh", "Toàn", "Tiến", "Nghĩa", "Lâm", "Quý", "Phúc", "Kỳ",
    "Đông", "Hiền", "Châu", "Lực", "Tài", "Hoan", "Đức", "Thuận", "Khoa", "Huấn",
)  # fmt: skip

GIVEN_NAMES_MALE_YOUNGER: tuple[str, ...] = (
    "Huy", "Khánh", "Đức", "Phúc", "Quân", "Bảo", "Khang", "Anh", "Minh", "Hiếu",
    "Phong", "Tùng", "Đạt", "Thịnh", "Kiên", "Hoàng", "Long", "Nam", "Việt", "Trung",
    "Khôi", "Đăng", "Khoa", "Lộc", "Duy", "Tuấn", "Hải", "Sơn", "Thành", "Vũ",
    "Nhật", "Tín", "Nguyên", "Quang", "Hưng", "Thái", "Lâm", "An", "Bách", "Tiến",
)  # fmt: skip

GIVEN_NAMES_FEMALE_OLDER: tuple[str, ...] = (
    "Lan", "Hoa", "Hương", "Hằng", "Hạnh", "Mai", "Nga", "Hà", "Hiền", "Huyền",
    "Nhung", "Yến", "Oanh", "Phương", "Thủy", "Vân", "Loan", "Tuyết", "Dung", "Liên",
    "Lý", "Hồng", "Nguyệt", "Xuân", "Cúc", "Đào", "Lài", "Sen", "Thảo", "Tâm",
    "Bình", "Hòa", "Hường", "Lộc", "Minh", "Nhàn", "Sương", "Thắm", "Thơm", "Vinh",
)  # fmt: skip

GIVEN_NAMES_FEMALE_YOUNGER: tuple[str, ...] = (
    "Linh", "Trang", "Thảo", "Ngọc", "Hà", "Anh", "Chi", "Vy", "My", "Trâm",
    "Nhi", "An", "Hân", "Ngân", "Thư", "Quỳnh", "Huyền", "Phương", "Mai", "Lan",
    "Hương", "Hằng", "Yến", "Uyên", "Giang", "Hiền", "Nhung", "Vân", "Thủy", "Dung",
    "Diệp", "Khuê", "Châu", "Loan", "Nga", "Oanh", "Tâm", "Trinh", "Tuyết", "Xuân",
)  # fmt: skip

# Village (thôn) names typical of rural Hà Tĩnh communes.
VILLAGES: tuple[str, ...] = (
    "Đông Hà", "Tân Phúc", "Trung Thành", "Bắc Sơn", "Nam Tiến", "Hòa Bình", "Tân Lộc",
    "Phú Hòa", "Minh Tiến", "Thượng Phú", "Hạ Vàng", "Yên Thịnh", "Kim Sơn", "Đại Đồng",
    "Tiền Phong", "Hợp Tiến", "Quyết Thắng", "Trung Tiến", "Đồng Văn", "Tân Thượng",
    "Xuân Sơn", "An Lạc", "Bình Minh", "Phúc Lộc", "Thanh Long", "Hưng Nhân", "Liên Giang",
    "Đông Tiến", "Tây Sơn", "Nam Hà", "Thuận Hòa", "Vĩnh Phú", "Trường Xuân", "Mỹ Lộc",
)  # fmt: skip

# Streets named after national and Hà Tĩnh figures, as in Hà Tĩnh city and Hồng Lĩnh.
STREETS: tuple[str, ...] = (
    "Trần Phú", "Phan Đình Phùng", "Nguyễn Du", "Hà Huy Tập", "Lê Duẩn", "Nguyễn Công Trứ",
    "Xuân Diệu", "Hàm Nghi", "Quang Trung", "Lê Lợi", "Nguyễn Huy Tự", "Hải Thượng Lãn Ông",
    "Võ Liêm Sơn", "Đặng Dung", "Mai Thúc Loan", "Nguyễn Biểu", "Trần Hưng Đạo",
    "Lý Tự Trọng", "Hoàng Xuân Hãn", "Ngô Đức Kế", "Nguyễn Thiếp", "Phan Kính",
    "26 tháng 3", "Hà Tôn Mục", "Lê Ninh", "Nguyễn Chí Thanh",
)  # fmt: skip
