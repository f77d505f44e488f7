"""The written report opened from disk in headless Chromium (Playwright driving Debian's
`chromium`): it loads with no console error, requests nothing but its own file, runs no
script, and every chart drew (the latency charts with one dot per worker process).

Skips, saying why, only where no Chromium binary or no playwright package exists; CI
installs both. Set RESNET_BENCH_CHROMIUM to use another Chromium binary.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from results import html
from tests.support.frames import HOSTILE, report_frames
from tests.support.services import skip_or_fail_in_ci

pytestmark = pytest.mark.browser
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
def page_report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    browser_path = chromium()
    if browser_path is None:
        skip_or_fail_in_ci(f"no Chromium found ({', '.join(CANDIDATES)}; apt-get install chromium)")
    try:
        from playwright import sync_api
    except ImportError:
        skip_or_fail_in_ci("playwright is not installed")

    f = report_frames()
    path = tmp_path_factory.mktemp("report") / "report.html"
    html.write_html(path, html.render_report(f.results(), f.samples(), [1, 2]))

    seen: dict[str, Any] = {"console": [], "errors": [], "requests": [], "dialogs": []}
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=browser_path, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: seen["console"].append((m.type, m.text)))
            page.on("pageerror", lambda e: seen["errors"].append(str(e)))
            page.on("request", lambda r: seen["requests"].append(r.url))
            page.on("dialog", lambda d: (seen["dialogs"].append(d.message), d.dismiss()))
            page.goto(path.as_uri(), wait_until="load")
            seen["charts"] = page.evaluate(
                """() => [...document.querySelectorAll('figure.chart')].map(fig => {
                    const svg = fig.querySelector('svg');
                    const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
                    return {
                        kind: fig.className,
                        width: box.width,
                        height: box.height,
                        paths: svg ? svg.querySelectorAll('path').length : 0,
                        texts: svg ? svg.querySelectorAll('text').length : 0,
                        cases: svg ? svg.querySelectorAll('g[id*="-processes-"]').length : 0,
                        dots: svg ? svg.querySelectorAll('g[id*="-processes-"] use').length : 0,
                    };
                })"""
            )
            seen["scripts"] = page.evaluate("() => document.scripts.length")
            seen["hostile_text"] = page.get_by_text(HOSTILE, exact=True).count()
            seen["url"] = path.as_uri()
            yield seen
        finally:
            browser.close()


def test_loads_without_console_errors(page_report: dict[str, Any]) -> None:
    assert page_report["errors"] == []
    assert [m for m in page_report["console"] if m[0] in ("error", "warning")] == []


def test_requests_nothing_but_itself(page_report: dict[str, Any]) -> None:
    assert page_report["requests"] == [page_report["url"]]


def test_hostile_strings_stay_text(page_report: dict[str, Any]) -> None:
    assert page_report["scripts"] == 0
    assert page_report["dialogs"] == []
    assert page_report["hostile_text"] >= 2  # shown as text, e.g. the label and the hostname


def test_every_chart_drew(page_report: dict[str, Any]) -> None:
    found = page_report["charts"]
    kinds = {c["kind"].split("chart-")[-1] for c in found}
    assert kinds == {"throughput", "ratio", "latency", "ceiling", "depth"}
    for chart in found:
        assert chart["width"] > 100 and chart["height"] > 50, chart
        assert chart["paths"] > 5 and chart["texts"] > 0, chart
    latency = [c for c in found if c["kind"].endswith("chart-latency")]
    # one dot per worker process: every ok case of report_frames ran in 5 processes
    assert latency and all(c["cases"] > 0 and c["dots"] == 5 * c["cases"] for c in latency)
