"""The console in a real headless browser: Debian's chromium driven by Playwright.

The console runs on uvicorn in a thread over a seeded SQLite warehouse, and replays go to
the session's real broker. Screenshots of the main pages are saved for review in
``$LGSP_SCREENSHOTS`` (default ``.lgsp/screenshots`` in the repository).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from web_seed import CATALOGUE, PERSON, UNKNOWN_COMMUNE_KEYS, Seeded, seed, with_person

from hub.broker import TansuBroker
from hub.settings import Settings
from hub.web import create_web_app
from hub.web.console import DATA_DOCS_SITE
from schemas import headers as h
from schemas.catalogue import Dataset
from schemas.serving import BackgroundServer

try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright
except ImportError:  # pragma: no cover - reported by the browser fixture
    sync_playwright = None  # type: ignore[assignment]

# Debian's chromium package; never a browser Playwright downloads.
CHROMIUM = Path(os.environ.get("LGSP_CHROMIUM", "/usr/bin/chromium"))
REPOSITORY = Path(__file__).resolve().parents[3]


def _missing_browser() -> str | None:
    if sync_playwright is None:
        return "Playwright is not installed: pip install playwright (never `playwright install`)"
    if not CHROMIUM.is_file():
        return f"{CHROMIUM} is missing: apt-get install chromium (or set LGSP_CHROMIUM)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    problem = _missing_browser()
    if problem is not None:
        # CI must run the browser test; a developer without chromium may skip it.
        if os.environ.get("CI") == "true":
            pytest.fail(f"the browser test cannot run: {problem}")
        pytest.skip(problem)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def screenshots() -> Path:
    directory = Path(os.environ.get("LGSP_SCREENSHOTS") or REPOSITORY / ".lgsp" / "screenshots")
    directory.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots of the console: {directory}")
    return directory


@dataclass(frozen=True)
class Served:
    url: str
    seeded: Seeded
    person: Dataset


@pytest.fixture
def console(
    broker: TansuBroker,
    lgsp_fresh_dataset: Callable[[str], Dataset],
    sqlite_url: str,
    tmp_path: Path,
) -> Iterator[Served]:
    """The console over a seeded warehouse, citizen.person on topics of its own."""
    person = lgsp_fresh_dataset(PERSON.id)
    catalogue = with_person(CATALOGUE, person)
    seeded = seed(sqlite_url, catalogue, person.id)
    site = tmp_path / DATA_DOCS_SITE
    (site / "expectations").mkdir(parents=True)
    (site / "index.html").write_text("<h1>Data Docs</h1>", encoding="utf-8")
    (site / "expectations" / f"{person.id}.html").write_text(
        f"<h1>Bộ kỳ vọng {person.id}</h1>", encoding="utf-8"
    )
    settings = Settings(
        warehouse_url=sqlite_url, workdir=tmp_path, bootstrap_servers=broker.bootstrap_servers
    )
    server = BackgroundServer("the stewards' console", "/api/health")
    url = server.serve(create_web_app(settings, catalogue=catalogue), "lgsp-web-test")
    try:
        yield Served(url=url, seeded=seeded, person=person)
    finally:
        server.stop()
        seeded.engine.dispose()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1360, "height": 900}, locale="vi-VN")
    opened = context.new_page()
    yield opened
    context.close()


def shoot(page: Page, screenshots: Path, name: str) -> None:
    page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)


@pytest.mark.timeout(180)
def test_a_steward_follows_a_failing_expectation_to_the_queue_and_replays_the_record(
    console: Served,
    page: Page,
    screenshots: Path,
    broker: TansuBroker,
    lgsp_read_topic: Callable[..., list[Any]],
) -> None:
    seeded, person = console.seeded, console.person
    page.goto(f"{console.url}/")
    expect(page.locator("h1")).to_have_text("Danh mục cơ sở dữ liệu dùng chung")
    row = page.locator(f'tr[data-dataset="{person.id}"]')
    expect(row).to_contain_text("80%")
    expect(row).to_contain_text("tăng")
    expect(row).to_contain_text(PERSON.owner_agency)
    expect(row.locator("svg.sparkline")).to_be_visible()
    shoot(page, screenshots, "1-catalogue")

    row.get_by_role("link", name="Cơ sở dữ liệu dân cư – công dân").click()
    expect(page).to_have_url(f"{console.url}/datasets/{person.id}")
    failing = page.locator('tr[data-expectation="in_reference:permanent_residence.commune_code"]')
    for key in UNKNOWN_COMMUNE_KEYS:
        expect(failing.locator("code.failing-key", has_text=key)).to_be_visible()
    expect(page.locator("svg.chart circle")).to_have_count(3)
    shoot(page, screenshots, "2-dataset")

    page.locator("p.run-line a.docs-link").click()
    expect(page.locator("h1")).to_have_text(f"Bộ kỳ vọng {person.id}")
    page.go_back()

    page.locator("a.held-link").click()
    expect(page.locator("#queue-count")).to_have_text("3")
    page.get_by_label("Quy tắc").fill("admin_unit")
    page.get_by_label("Đến ngày").fill("2026-09-12")
    page.get_by_role("button", name="Lọc").click()
    expect(page.locator("#queue-count")).to_have_text("1")
    record = page.locator(f'tr[data-row-id="{seeded.unknown_commune}"]')
    expect(record).to_contain_text("042195000006")
    expect(record).to_contain_text("không phải là mã đơn vị hành chính")
    shoot(page, screenshots, "3-quarantine-filtered")

    record.get_by_role("button", name="Kiểm tra lại").click()
    expect(page.locator("p.notice")).to_contain_text(f"Đã gửi lại bản ghi {seeded.unknown_commune}")
    expect(page.locator("#queue-count")).to_have_text("0")
    expect(page.locator(f'tr[data-row-id="{seeded.unknown_commune}"]')).to_have_count(0)
    # The filters are as the steward left them.
    expect(page.get_by_label("Quy tắc")).to_have_value("admin_unit")
    shoot(page, screenshots, "4-quarantine-after-replay")

    page.get_by_label("Trạng thái").select_option("replayed")
    page.get_by_role("button", name="Lọc").click()
    expect(page.locator(f'tr[data-row-id="{seeded.unknown_commune}"]')).to_contain_text(
        "Đã gửi lại, chờ kết quả"
    )
    [message] = lgsp_read_topic(broker.bootstrap_servers, person.raw_topic)
    assert message.value == seeded.unknown_commune_payload
    assert h.decode_headers(message.headers)[h.REPLAY_OF] == str(seeded.unknown_commune)

    page.get_by_role("link", name="Bỏ lọc").click()
    expect(page.locator("#queue-count")).to_have_text("3")
    shoot(page, screenshots, "5-quarantine")
    page.get_by_role("link", name=str(seeded.connector), exact=True).click()
    expect(page.locator("h1")).to_have_text(f"Bản ghi bị cách ly {seeded.connector}")
    expect(page.locator("pre.json")).to_contain_text("31/02/1995")
    expect(page.get_by_role("button", name="Kiểm tra lại")).to_have_count(0)
    shoot(page, screenshots, "6-quarantine-record")


@pytest.mark.timeout(120)
def test_the_steward_switches_between_vietnamese_and_english(
    console: Served, page: Page, screenshots: Path
) -> None:
    page.goto(f"{console.url}/")
    page.get_by_role("link", name="English").click()
    expect(page.locator("h1")).to_have_text("Shared-database catalogue")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    shoot(page, screenshots, "7-catalogue-en")
    page.get_by_role("link", name="Population database – citizens").click()
    expect(page.get_by_role("heading", name="Failing expectations (2)")).to_be_visible()
    page.get_by_role("link", name="Quarantine queue").first.click()
    expect(page.get_by_role("button", name="Filter")).to_be_visible()
    page.get_by_role("link", name="Tiếng Việt").click()
    expect(page.locator("h1")).to_have_text("Hàng đợi cách ly")
    assert "lang=en" not in page.url


@pytest.mark.timeout(120)
def test_the_api_docs_load_nothing_from_outside_the_console(
    console: Served, page: Page, screenshots: Path
) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{console.url}/api/docs")
    expect(page.locator(".opblock-summary-path", has_text="/api/datasets").first).to_be_visible()
    shoot(page, screenshots, "8-api-docs")
    outside = [url for url in requested if not url.startswith((console.url, "data:"))]
    assert outside == []
