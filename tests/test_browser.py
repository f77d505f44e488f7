"""The written report opened from disk in headless Chromium (Playwright driving Debian's
`chromium`), every request but the file's own aborted: it loads with no console error,
requests nothing else, every chart drew (the latency chart with one dot per worker
process), pointing at a point shows its value, a legend click hides a series, and the page
does not overflow at 1400 and 1000 px.

Skips, saying why, only where no Chromium binary or no playwright package exists; CI
installs both. Set RESNET_BENCH_CHROMIUM to use another Chromium binary.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from results import html
from tests.support.frames import HOSTILE, Frames, report_frames, steps
from tests.support.services import skip_or_fail_in_ci

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # a headless Chromium: seconds
CHROMIUM_ENV = "RESNET_BENCH_CHROMIUM"
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# No sandbox: CI containers run as root; the rest keeps the browser from calling home.
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> str | None:
    env = os.environ.get(CHROMIUM_ENV)
    if env:
        return env
    return next((p for p in map(shutil.which, CANDIDATES) if p), None)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    browser_path = chromium()
    if browser_path is None:
        skip_or_fail_in_ci(f"no Chromium found ({', '.join(CANDIDATES)}; apt-get install chromium)")
    try:
        from playwright import sync_api
    except ImportError:
        skip_or_fail_in_ci("playwright is not installed")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=browser_path, args=ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def report_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    f = report_frames()
    path = tmp_path_factory.mktemp("report") / "report.html"
    html.write_html(path, html.render_report(f.results(), f.samples(), [1, 2]))
    return path


def open_page(browser: Any, path: Path, width: int, seen: dict[str, Any]) -> Any:
    """The report in a fresh page `width` px wide; every request but the file's own is
    aborted (and recorded), as is every console message, page error and dialog."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    url = path.as_uri()

    def route(r: Any) -> None:
        seen["requests"].append(r.request.url)
        if r.request.url == url:
            r.continue_()
        else:
            r.abort()

    page.route("**/*", route)
    page.on("console", lambda m: seen["console"].append((m.type, m.text)))
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    page.on("dialog", lambda d: (seen["dialogs"].append(d.message), d.dismiss()))
    page.goto(url, wait_until="load")
    return page


@pytest.fixture(scope="module")
def wide_page(browser: Any, report_path: Path) -> Iterator[tuple[Any, dict[str, Any]]]:
    """One page at 1400 px for the tests that look and point (a load parses plotly.js)."""
    seen: dict[str, Any] = {"console": [], "errors": [], "requests": [], "dialogs": []}
    page = open_page(browser, report_path, 1400, seen)
    try:
        yield page, seen
    finally:
        page.close()


@pytest.fixture(scope="module")
def page_report(wide_page: tuple[Any, dict[str, Any]], report_path: Path) -> dict[str, Any]:
    page, seen = wide_page
    if "charts" not in seen:
        seen["charts"] = page.evaluate(
            """() => [...document.querySelectorAll('figure.chart')].map(fig => {
                const plot = fig.querySelector('.js-plotly-plot');
                const box = plot ? plot.getBoundingClientRect() : {width: 0, height: 0};
                return {
                    kind: fig.className,
                    width: box.width,
                    height: box.height,
                    traces: plot && plot.data ? plot.data.length : 0,
                    points: plot ? plot.querySelectorAll('.point').length : 0,
                    table: fig.querySelectorAll('details.chart-table tbody tr').length,
                };
            })"""
        )
        seen["hostile_text"] = page.get_by_text(HOSTILE, exact=True).count()
        seen["url"] = report_path.as_uri()
    return seen


def test_loads_without_console_errors(page_report: dict[str, Any]) -> None:
    assert page_report["errors"] == []
    assert [m for m in page_report["console"] if m[0] in ("error", "warning")] == []


def test_requests_nothing_but_itself(page_report: dict[str, Any]) -> None:
    assert page_report["requests"] == [page_report["url"]]


def test_hostile_strings_stay_text(page_report: dict[str, Any]) -> None:
    assert page_report["dialogs"] == []
    assert page_report["hostile_text"] >= 2  # shown as text, e.g. the label and the hostname


def test_every_chart_drew(page_report: dict[str, Any]) -> None:
    found = page_report["charts"]
    kinds = {c["kind"].split("chart-")[-1] for c in found}
    assert kinds == {"tradeoff", "throughput", "ratio", "latency", "ceiling", "depth"}
    for chart in found:
        assert chart["width"] > 300 and chart["height"] > 100, chart
        assert chart["traces"] > 0 and chart["table"] > 0, chart
    latency = [c for c in found if c["kind"].endswith("chart-latency")]
    # one dot per worker process: 13 ok cases of report_frames' run 2, 5 processes each
    assert latency and latency[0]["points"] >= 13 * 5


def test_hover_shows_a_tooltip_with_the_value(
    wide_page: tuple[Any, dict[str, Any]], report_path: Path
) -> None:
    page, seen = wide_page
    chart = page.locator("#chart-throughput-1")
    chart.scroll_into_view_if_needed()
    point = chart.locator(".scatterlayer .trace").first.locator(".point").first
    box = point.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    tip = chart.locator(".hoverlayer .hovertext")
    tip.first.wait_for(state="visible", timeout=5000)
    text = " ".join(tip.all_text_contents())
    # torch/eager r50 b1 of run 2: its images/s with the CI, processes, run and commit
    assert "torch/eager r50 b1" in text and "images/s: 111 [" in text, text
    assert "processes: 5" in text and "commit abc123" in text, text
    assert seen["errors"] == [] and seen["requests"] == [report_path.as_uri()]
    page.mouse.move(0, 0)


def test_toggling_a_series_hides_it(wide_page: tuple[Any, dict[str, Any]]) -> None:
    page, seen = wide_page
    chart = page.locator("#chart-throughput-1")
    chart.scroll_into_view_if_needed()

    def drawn() -> int:
        return int(chart.locator(".scatterlayer .trace").count())

    before = drawn()
    entry = chart.locator(".legend .traces").filter(has_text="tensorflow/graph")
    entry.locator(".legendtoggle").click()
    page.wait_for_function(
        "() => document.getElementById('chart-throughput-1').data"
        ".filter(t => t.visible === 'legendonly').length > 0"
    )
    hidden = page.evaluate(
        "() => document.getElementById('chart-throughput-1').data"
        ".filter(t => t.visible === 'legendonly').map(t => t.name)"
    )
    # tensorflow's line in each of the three depth panels; torch's stay
    assert hidden == ["tensorflow/graph"] * 3
    assert drawn() == before - 3
    entry.locator(".legendtoggle").click()
    page.wait_for_function(
        "() => document.getElementById('chart-throughput-1').data"
        ".every(t => t.visible !== 'legendonly')"
    )
    assert drawn() == before
    assert seen["errors"] == []


@pytest.mark.parametrize("width", [1400, 1000])
def test_fits_the_page(wide_page: tuple[Any, dict[str, Any]], width: int) -> None:
    page, seen = wide_page
    page.set_viewport_size({"width": width, "height": 900})
    try:
        page.wait_for_timeout(500)  # responsive plots follow the window's resize
        sizes = page.evaluate(
            """() => ({scroll: document.documentElement.scrollWidth,
                       body: document.body.scrollWidth,
                       view: document.documentElement.clientWidth,
                       wide: [...document.querySelectorAll('body *')]
                           .filter(e => !e.closest('.scroll') &&
                                        e.getBoundingClientRect().right > innerWidth + 1)
                           .map(e => e.tagName + '.' + e.className).slice(0, 5)})"""
        )
        assert sizes["scroll"] <= sizes["view"], sizes
        assert sizes["body"] <= sizes["view"] and sizes["wide"] == [], sizes
        assert sizes["view"] <= width and seen["errors"] == []
    finally:
        page.set_viewport_size({"width": 1400, "height": 900})


def test_long_labels_fit_the_page(browser: Any, tmp_path: Path) -> None:
    """Case labels with a long unbroken environment name (an A/B run) and a long run
    label wrap or scroll in their own box: the page still fits 1000 px."""
    env = "venv-" + "x" * 150
    f = Frames().run(1, run_label="nightly " + "y" * 200)
    for fw in ("torch", "tensorflow"):
        for batch in (1, 8):
            f.result(1, fw, 50, batch, steps(0.01 * batch, seed=batch), env=env)
    path = tmp_path / "long.html"
    html.write_html(path, html.render_report(f.results(), f.samples(), [1]))
    seen: dict[str, Any] = {"console": [], "errors": [], "requests": [], "dialogs": []}
    page = open_page(browser, path, 1000, seen)
    try:
        assert page.get_by_text(env, exact=False).count() > 0
        sizes = page.evaluate(
            "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert sizes[0] <= sizes[1], sizes
        assert seen["errors"] == [] and seen["requests"] == [path.as_uri()]
    finally:
        page.close()
