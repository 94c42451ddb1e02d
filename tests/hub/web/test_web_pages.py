"""The console's pages as HTML: labels in both languages, filters, errors as pages."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import get_args

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from web_seed import (
    MISSING_NAME_KEYS,
    PERSON,
    UNKNOWN_COMMUNE_KEYS,
    UNKNOWN_COMMUNE_REASON,
    UNKNOWN_COMMUNE_REASON_VI,
    Seeded,
)

from hub.settings import Settings
from hub.web import create_web_app
from hub.web.charts import ChartPoint, score_chart, sparkline
from hub.web.console import DATA_DOCS_SITE
from hub.web.i18n import LABELS, LANGUAGES, translator
from hub.web.pages import TEMPLATES_DIR, _local_return_path, _percent
from hub.web.queue import STATUSES
from hub.web.scorecards import Trend
from schemas.catalogue import SharingLevel
from warehouse.models import Quarantine


@pytest.fixture
def console(seeded_sqlite: Seeded, tmp_path: Path) -> Iterator[TestClient]:
    app = create_web_app(Settings(workdir=tmp_path), engine=seeded_sqlite.engine)
    with TestClient(app) as client:
        yield client


def text_of(html: str) -> str:
    """The page's words, tags dropped, entities decoded, spaces collapsed."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def test_every_label_has_both_languages_in_nfc() -> None:
    for name, texts in LABELS.items():
        assert set(texts) == set(LANGUAGES), name
        for lang, text in texts.items():
            assert text.strip(), (name, lang)
            assert unicodedata.is_normalized("NFC", text), (name, lang)


def test_every_label_the_templates_name_is_in_the_table() -> None:
    named = {
        label
        for template in TEMPLATES_DIR.glob("*.html")
        for label in re.findall(r"""\bt\(["']([a-z_]+)["']\s*[,)]""", template.read_text("utf-8"))
    }
    assert len(named) > 40
    assert named - set(LABELS) == set()
    # Labels the templates put together from a value.
    composed = {
        *(f"sharing_{level}" for level in get_args(SharingLevel)),
        *(f"trend_{trend}" for trend in get_args(Trend)),
        *(f"status_{status}" for status in STATUSES),
    }
    assert composed - set(LABELS) == set()


def test_a_label_fills_in_its_values() -> None:
    assert translator("vi")("unknown_record", id=7) == "Không có bản ghi cách ly số 7."
    assert translator("en")("unknown_record", id=7) == "There is no quarantine record 7."


def test_the_catalogue_is_in_vietnamese_by_default_and_english_on_request(
    console: TestClient,
) -> None:
    vietnamese = console.get("/")
    assert vietnamese.status_code == 200
    assert '<html lang="vi">' in vietnamese.text
    words = text_of(vietnamese.text)
    assert "Danh mục cơ sở dữ liệu dùng chung" in words
    assert "Cơ sở dữ liệu dân cư – công dân" in words
    assert "80%" in words
    assert "Dùng chung" in words
    assert '<a class="lang-switch" href="/?lang=en"' in vietnamese.text
    english = console.get("/", params={"lang": "en"})
    assert '<html lang="en">' in english.text
    words = text_of(english.text)
    assert "Shared-database catalogue" in words
    assert "Population database – citizens" in words
    assert "Danh mục cơ sở dữ liệu dùng chung" not in words
    # Links keep the language.
    assert f'href="/datasets/{PERSON.id}?lang=en"' in english.text


def test_a_score_with_a_fraction_uses_the_languages_decimal_mark(
    console: TestClient,
) -> None:
    history = text_of(console.get(f"/datasets/{PERSON.id}").text)
    assert "Tỷ lệ kỳ vọng đạt" in history
    assert "0,5%" in history
    assert "0.5%" in text_of(console.get(f"/datasets/{PERSON.id}?lang=en").text)


def test_the_dataset_page_shows_failing_expectations_keys_and_the_chart(
    console: TestClient,
) -> None:
    page = console.get(f"/datasets/{PERSON.id}")
    assert page.status_code == 200
    words = text_of(page.text)
    assert "Kỳ vọng không đạt (2)" in words
    for key in [*UNKNOWN_COMMUNE_KEYS, *MISSING_NAME_KEYS]:
        assert f'<code class="failing-key" title="personal_id">{key}</code>' in page.text
    assert '{"null_count": 1}' in words
    # A composite key reads as the record key the queue shows, its fields in the tooltip.
    birth = console.get("/datasets/civil.birth").text
    assert (
        '<code class="failing-key" title="registering_agency_id | book_number | '
        'registration_number">000.00.17.H25|01/2026|125</code>'
    ) in birth
    chart = re.search(r'<svg class="chart".*?</svg>', page.text, re.S)
    assert chart is not None
    assert chart.group().count("<circle") == 3
    assert "Lần kiểm tra" in chart.group()
    # Three held rows of this dataset wait in the queue.
    assert f'href="/quarantine?dataset={PERSON.id}">3 ·' in page.text


def test_the_dataset_page_links_its_data_docs_once_gx_built_them(
    seeded_sqlite: Seeded, tmp_path: Path
) -> None:
    site = tmp_path / DATA_DOCS_SITE
    (site / "expectations").mkdir(parents=True)
    (site / "index.html").write_text("<h1>Data Docs</h1>", encoding="utf-8")
    (site / "expectations" / f"{PERSON.id}.html").write_text("<h1>Suite</h1>", encoding="utf-8")
    (tmp_path / "gx" / "great_expectations.yml").write_text("config_version: 4", "utf-8")
    app = create_web_app(Settings(workdir=tmp_path), engine=seeded_sqlite.engine)
    with TestClient(app) as client:
        page = client.get(f"/datasets/{PERSON.id}").text
        assert f'href="/data-docs/expectations/{PERSON.id}.html"' in page
        assert client.get(f"/data-docs/expectations/{PERSON.id}.html").text == "<h1>Suite</h1>"
        assert 'href="/data-docs/index.html"' in client.get("/").text
        assert client.get("/data-docs/").text == "<h1>Data Docs</h1>"
        # The GX project's configuration is not part of the site.
        assert client.get("/data-docs/../great_expectations.yml").status_code == 404
        assert client.get("/gx/great_expectations.yml").status_code == 404


def test_without_data_docs_the_page_says_so(console: TestClient) -> None:
    page = console.get("/")
    assert "Chưa có báo cáo Data Docs" in text_of(page.text)
    assert "/data-docs/" not in page.text


def test_the_queue_page_filters_counts_and_shows_both_languages(
    console: TestClient, seeded_sqlite: Seeded
) -> None:
    page = console.get("/quarantine", params={"dataset": PERSON.id, "rule": "admin_unit"})
    assert page.status_code == 200
    assert re.search(r'<strong id="queue-count">1</strong>', page.text)
    rows = re.findall(r'data-row-id="(\d+)"', page.text)
    assert rows == [str(seeded_sqlite.unknown_commune)]
    words = text_of(page.text)
    assert UNKNOWN_COMMUNE_REASON_VI in words
    assert UNKNOWN_COMMUNE_REASON in words
    assert f'<option value="{PERSON.id}" selected>' in page.text
    everything = console.get("/quarantine", params={"status": "all", "lang": "en"})
    words = text_of(everything.text)
    assert "5 matching records" in words
    assert "Released to the warehouse" in words
    # Switching the language keeps the filters.
    assert '<a class="lang-switch" href="/quarantine?status=all"' in everything.text
    # Only rows the hub can send through validation again get the button.
    forms = re.findall(r'action="/quarantine/(\d+)/replay', everything.text)
    assert set(forms) == {
        str(seeded_sqlite.unknown_commune),
        str(seeded_sqlite.late_schema),
        str(seeded_sqlite.birth),
    }


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"since": "hôm qua"}, "since:"),
        ({"dataset": "citizen.nobody"}, "Danh mục không có cơ sở dữ liệu citizen.nobody."),
        ({"since": "2026-09-14", "until": "2026-09-01"}, "ends before it starts"),
    ],
)
def test_a_bad_filter_is_an_error_page(
    console: TestClient, query: dict[str, str], message: str
) -> None:
    page = console.get("/quarantine", params=query)
    assert page.status_code == 400
    assert page.headers["content-type"].startswith("text/html")
    [alert] = re.findall(r'<p class="error" role="alert">(.*?)</p>', page.text, re.S)
    assert message in unescape(alert)
    assert "\n" not in alert.strip()


def test_unknown_pages_are_error_pages_in_the_chosen_language(console: TestClient) -> None:
    dataset = console.get("/datasets/citizen.nobody", params={"lang": "en"})
    assert dataset.status_code == 404
    assert "The catalogue has no dataset citizen.nobody." in text_of(dataset.text)
    record = console.get("/quarantine/999999")
    assert record.status_code == 404
    assert "Không có bản ghi cách ly số 999999." in text_of(record.text)
    nowhere = console.get("/nowhere")
    assert nowhere.status_code == 404
    assert nowhere.headers["content-type"].startswith("text/html")


def test_a_record_page_shows_the_record_and_its_failures(
    console: TestClient, seeded_sqlite: Seeded
) -> None:
    page = console.get(f"/quarantine/{seeded_sqlite.unknown_commune}")
    words = text_of(page.text)
    assert "Trần Thị Ngọc Ánh" in words
    assert UNKNOWN_COMMUNE_REASON_VI in words
    assert "raw.citizen.person, phân vùng 0, vị trí 7" in words
    assert 'class="replay"' in page.text
    connector = text_of(console.get(f"/quarantine/{seeded_sqlite.connector}").text)
    assert "Dòng dữ liệu nguồn (chưa thành bản ghi)" in connector
    assert "31/02/1995" in connector
    assert "Kiểm tra lại" not in connector


def test_a_replay_without_a_broker_says_how_to_replay_and_keeps_the_record(
    console: TestClient, seeded_sqlite: Seeded
) -> None:
    row_id = seeded_sqlite.unknown_commune
    page = console.post(
        f"/quarantine/{row_id}/replay", params={"next": "/quarantine?rule=admin_unit"}
    )
    assert page.status_code == 503
    [alert] = re.findall(r'<p class="error" role="alert">(.*?)</p>', page.text, re.S)
    assert "LGSP_BOOTSTRAP_SERVERS" in alert
    assert f"lgsp quarantine replay {row_id}" in alert
    assert 'href="/quarantine?rule=admin_unit"' in page.text
    with seeded_sqlite.engine.connect() as connection:
        status = connection.scalar(select(Quarantine.status).where(Quarantine.id == row_id))
    assert status == "held"


def test_a_replay_form_posted_from_another_site_is_refused(
    console: TestClient, seeded_sqlite: Seeded
) -> None:
    page = console.post(
        f"/quarantine/{seeded_sqlite.unknown_commune}/replay",
        headers={"Origin": "http://evil.example"},
    )
    assert page.status_code == 403
    assert "Yêu cầu đến từ một trang khác đã bị từ chối." in text_of(page.text)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/quarantine?rule=decode&lang=en", "/quarantine?rule=decode&lang=en"),
        ("//evil.example/quarantine", "/quarantine"),
        ("https://evil.example/", "/quarantine"),
        ("/\\evil.example", "/quarantine"),
        ("quarantine", "/quarantine"),
        (None, "/quarantine"),
    ],
)
def test_a_replay_returns_only_to_a_page_of_the_console(target: str | None, expected: str) -> None:
    assert _local_return_path(target, "/quarantine") == expected


def test_charts_escape_their_text_and_place_a_lone_run_in_the_middle() -> None:
    chart = score_chart(
        [ChartPoint(score=0.5, label="<script>alert(1)</script>")], title="Điểm & xu hướng"
    )
    assert "<script>" not in chart
    assert "&lt;script&gt;" in chart
    assert "Điểm &amp; xu hướng" in chart
    assert "<polyline" not in chart
    assert 'cx="336.0"' in chart
    line = sparkline(
        [ChartPoint(score=1.0, label="a"), ChartPoint(score=1.5, label="b")], title="t"
    )
    # Scores outside 0..1 are drawn at the edge rather than off the chart.
    assert 'points="2.0,3.0 118.0,3.0"' in line


def test_a_score_short_of_full_never_reads_as_full() -> None:
    assert _percent("vi")(0.9999) == "99,9%"
    assert _percent("en")(0.9999) == "99.9%"
    assert _percent("en")(1.0) == "100%"
    assert _percent("en")(None) == "–"
