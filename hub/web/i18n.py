"""Every label the console shows, in Vietnamese and English, in one table.

Vietnamese is the default: the console's users are the province's data stewards. Labels are
kept in Unicode NFC like every other Vietnamese text the hub carries.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, Literal

Lang = Literal["vi", "en"]
LANGUAGES: Final[tuple[Lang, ...]] = ("vi", "en")
DEFAULT_LANG: Final[Lang] = "vi"

LABELS: Final[dict[str, dict[Lang, str]]] = {
    "app_title": {"vi": "Bàn làm việc cán bộ quản lý dữ liệu", "en": "Data stewards' console"},
    "province": {"vi": "Tỉnh", "en": "Province"},
    "nav_catalogue": {"vi": "Danh mục dữ liệu", "en": "Catalogue"},
    "nav_quarantine": {"vi": "Hàng đợi cách ly", "en": "Quarantine queue"},
    "nav_api": {"vi": "API", "en": "API"},
    "switch_language": {"vi": "English", "en": "Tiếng Việt"},
    "catalogue_title": {
        "vi": "Danh mục cơ sở dữ liệu dùng chung",
        "en": "Shared-database catalogue",
    },
    "catalogue_intro": {
        "vi": "Mỗi cơ sở dữ liệu, cơ quan chủ quản, mức độ chia sẻ và điểm chất lượng gần nhất.",
        "en": "Each shared database, its owner, sharing level and latest quality score.",
    },
    "dataset": {"vi": "Cơ sở dữ liệu", "en": "Dataset"},
    "dataset_id": {"vi": "Mã", "en": "Id"},
    "title": {"vi": "Tên", "en": "Title"},
    "owner": {"vi": "Cơ quan chủ quản", "en": "Owning agency"},
    "source_system": {"vi": "Hệ thống nguồn", "en": "Source system"},
    "sharing_level": {"vi": "Mức độ chia sẻ", "en": "Sharing level"},
    "sharing_shared": {"vi": "Dùng chung", "en": "Shared"},
    "sharing_internal": {"vi": "Nội bộ", "en": "Internal only"},
    "sharing_open": {"vi": "Mở", "en": "Open"},
    "update_frequency": {"vi": "Tần suất cập nhật", "en": "Update frequency"},
    "legal_basis": {"vi": "Căn cứ pháp lý", "en": "Legal basis"},
    "personal_data": {"vi": "Trường dữ liệu cá nhân", "en": "Personal-data fields"},
    "key_fields": {"vi": "Trường khóa", "en": "Key fields"},
    "latest_score": {"vi": "Điểm gần nhất", "en": "Latest score"},
    "trend": {"vi": "Xu hướng", "en": "Trend"},
    "trend_up": {"vi": "tăng", "en": "up"},
    "trend_down": {"vi": "giảm", "en": "down"},
    "trend_flat": {"vi": "không đổi", "en": "unchanged"},
    "no_runs": {"vi": "Chưa có lần kiểm tra", "en": "Not checked yet"},
    "last_checked": {"vi": "Kiểm tra lúc", "en": "Checked at"},
    "scorecard_title": {"vi": "Bảng điểm chất lượng", "en": "Quality scorecard"},
    "scope_source_system": {"vi": "Theo hệ thống nguồn", "en": "By source system"},
    "scope_agency": {"vi": "Theo cơ quan chủ quản", "en": "By owning agency"},
    "score": {"vi": "Điểm", "en": "Score"},
    "met_of_total": {"vi": "Đạt / tổng trọng số", "en": "Met / total weight"},
    "dataset_quality": {"vi": "Chất lượng dữ liệu", "en": "Data quality"},
    "score_over_runs": {"vi": "Điểm qua các lần kiểm tra", "en": "Score over runs"},
    "chart_caption": {
        "vi": "Tỷ lệ kỳ vọng đạt (có trọng số) ở mỗi lần kiểm tra",
        "en": "Weighted share of expectations met in each run",
    },
    "failing_expectations": {"vi": "Kỳ vọng không đạt", "en": "Failing expectations"},
    "passing_expectations": {"vi": "Kỳ vọng đạt", "en": "Expectations met"},
    "no_failures": {
        "vi": "Mọi kỳ vọng đều đạt ở lần kiểm tra gần nhất.",
        "en": "Every expectation was met in the latest run.",
    },
    "expectation": {"vi": "Kỳ vọng", "en": "Expectation"},
    "column": {"vi": "Trường", "en": "Field"},
    "critical": {"vi": "Nghiêm trọng", "en": "Critical"},
    "weight": {"vi": "Trọng số", "en": "Weight"},
    "observed_value": {"vi": "Giá trị quan sát", "en": "Observed value"},
    "unexpected": {"vi": "Số dòng vi phạm", "en": "Failing rows"},
    "failing_keys": {"vi": "Khóa mẫu của dòng vi phạm", "en": "Sample failing keys"},
    "error": {"vi": "Lỗi", "en": "Error"},
    "run": {"vi": "Lần kiểm tra", "en": "Run"},
    "data_docs": {"vi": "Báo cáo Great Expectations", "en": "Great Expectations Data Docs"},
    "data_docs_missing": {
        "vi": "Chưa có báo cáo Data Docs trong thư mục làm việc.",
        "en": "No Data Docs in the work directory yet.",
    },
    "quarantine_for_dataset": {
        "vi": "Bản ghi bị cách ly của cơ sở dữ liệu này",
        "en": "This dataset's quarantined records",
    },
    "quarantine_title": {"vi": "Hàng đợi cách ly", "en": "Quarantine queue"},
    "quarantine_intro": {
        "vi": "Bản ghi bị giữ lại, chưa vào kho dữ liệu, cùng lý do. Gửi kiểm tra lại sau khi "
        "đã sửa dữ liệu tham chiếu hoặc lược đồ.",
        "en": "Records held back from the warehouse, with why. Replay them after a fix in "
        "reference data or schemas.",
    },
    "filters": {"vi": "Bộ lọc", "en": "Filters"},
    "all": {"vi": "Tất cả", "en": "All"},
    "rule": {"vi": "Quy tắc", "en": "Rule"},
    "date_from": {"vi": "Từ ngày", "en": "From"},
    "date_to": {"vi": "Đến ngày", "en": "To"},
    "status": {"vi": "Trạng thái", "en": "Status"},
    "status_held": {"vi": "Đang giữ", "en": "Held"},
    "status_replayed": {"vi": "Đã gửi lại, chờ kết quả", "en": "Replayed, outcome pending"},
    "status_released": {"vi": "Đã vào kho dữ liệu", "en": "Released to the warehouse"},
    "status_superseded": {"vi": "Đã có bản ghi mới hơn", "en": "Superseded by a newer record"},
    "status_all": {"vi": "Mọi trạng thái", "en": "Any status"},
    "apply_filters": {"vi": "Lọc", "en": "Filter"},
    "clear_filters": {"vi": "Bỏ lọc", "en": "Clear"},
    "records_found": {"vi": "bản ghi phù hợp", "en": "matching records"},
    "shown": {"vi": "đang hiển thị", "en": "shown"},
    "no_records": {"vi": "Không có bản ghi nào phù hợp.", "en": "No records match."},
    "record": {"vi": "Bản ghi", "en": "Record"},
    "key": {"vi": "Khóa", "en": "Key"},
    "stage": {"vi": "Bước xử lý", "en": "Stage"},
    "reasons": {"vi": "Lý do", "en": "Reasons"},
    "held_at": {"vi": "Thời điểm cách ly (giờ Việt Nam)", "en": "Held at (ICT)"},
    "actions": {"vi": "Thao tác", "en": "Actions"},
    "replay": {"vi": "Kiểm tra lại", "en": "Replay"},
    "replayed_notice": {
        "vi": "Đã gửi lại bản ghi {id} để kiểm tra; hệ thống xử lý sẽ cho kết quả.",
        "en": "Record {id} was sent for validation again; the stream worker judges it.",
    },
    "replay_failed": {"vi": "Không gửi lại được bản ghi", "en": "The record was not replayed"},
    "replay_no_broker": {
        "vi": "Chưa cấu hình máy chủ Kafka (LGSP_BOOTSTRAP_SERVERS), nên bảng điều khiển không "
        "gửi lại được. Dùng lệnh `lgsp quarantine replay {id}` hoặc khởi động bảng điều khiển "
        "với LGSP_BOOTSTRAP_SERVERS.",
        "en": "No Kafka broker is configured (LGSP_BOOTSTRAP_SERVERS), so the console cannot "
        "replay. Run `lgsp quarantine replay {id}`, or start the console with "
        "LGSP_BOOTSTRAP_SERVERS set.",
    },
    "replay_refused": {
        "vi": "Bản ghi này không gửi lại được:",
        "en": "This record cannot be replayed:",
    },
    "back_to_queue": {"vi": "Quay lại hàng đợi", "en": "Back to the queue"},
    "quarantine_record": {"vi": "Bản ghi bị cách ly", "en": "Quarantined record"},
    "agency_id": {"vi": "Mã định danh cơ quan", "en": "Agency e-ID"},
    "trace_id": {"vi": "Mã truy vết", "en": "Trace id"},
    "origin": {"vi": "Nguồn gốc", "en": "Origin"},
    "origin_value": {
        "vi": "{topic}, phân vùng {partition}, vị trí {offset}",
        "en": "{topic}, partition {partition}, offset {offset}",
    },
    "fingerprint": {"vi": "Dấu vân tay (SHA-256)", "en": "Fingerprint (SHA-256)"},
    "payload_size": {"vi": "Kích thước dữ liệu", "en": "Payload size"},
    "bytes": {"vi": "byte", "en": "bytes"},
    "failures": {"vi": "Các vi phạm", "en": "Failures"},
    "reason_vi": {"vi": "Lý do", "en": "Reason (Vietnamese)"},
    "reason_en": {"vi": "Lý do (tiếng Anh)", "en": "Reason"},
    "decoded_record": {"vi": "Nội dung bản ghi", "en": "The record"},
    "source_row": {
        "vi": "Dòng dữ liệu nguồn (chưa thành bản ghi)",
        "en": "Source row (it never became a record)",
    },
    "undecodable": {
        "vi": "Không giải mã được {size} byte dữ liệu.",
        "en": "The {size} bytes could not be decoded.",
    },
    "connector_hint": {
        "vi": "Sửa tại hệ thống nguồn; trình kết nối sẽ gửi lại dòng này khi nó thay đổi.",
        "en": "Fix it at the source; the connector publishes the row again when it changes.",
    },
    "not_found": {"vi": "Không tìm thấy", "en": "Not found"},
    "bad_request": {"vi": "Yêu cầu không hợp lệ", "en": "Bad request"},
    "forbidden": {"vi": "Không được phép", "en": "Forbidden"},
    "unknown_dataset": {
        "vi": "Danh mục không có cơ sở dữ liệu {id}.",
        "en": "The catalogue has no dataset {id}.",
    },
    "unknown_record": {
        "vi": "Không có bản ghi cách ly số {id}.",
        "en": "There is no quarantine record {id}.",
    },
    "cross_site": {
        "vi": "Yêu cầu đến từ một trang khác đã bị từ chối.",
        "en": "A request from another site was refused.",
    },
    "footer": {
        "vi": "LGSP Hub: nền tảng tích hợp, chia sẻ dữ liệu cấp tỉnh",
        "en": "LGSP Hub: the province's data integration and sharing platform",
    },
}


def normalise_lang(value: str | None) -> Lang:
    """The language a ``?lang=`` value asks for; anything but ``en`` is the default."""
    return "en" if value == "en" else DEFAULT_LANG


def translator(lang: Lang) -> Callable[..., str]:
    """``t(label, **values)``: the label in ``lang`` with ``{name}`` fields filled in.

    Raises:
        KeyError: The label is not in :data:`LABELS`; a template naming one is a bug.
    """

    def translate(label: str, **values: object) -> str:
        text = LABELS[label][lang]
        return text.format(**values) if values else text

    return translate
