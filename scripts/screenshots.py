"""Screenshots of an HTML report in headless Chromium, to look at (not committed).

    python scripts/screenshots.py REPORT.html [--out DIR] [--widths 1400,1000]
    python scripts/screenshots.py --demo [--out DIR]   # the test suite's two-run report

Writes DIR/report-{width}.png (the whole page) and DIR/hover-{width}.png (the first chart
with a tooltip showing). Network requests other than the file itself are aborted, as the
browser tests do. Chromium: $RESNET_BENCH_CHROMIUM or the first of chromium,
chromium-browser, google-chrome on PATH.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]


def chromium() -> str:
    found = os.environ.get("RESNET_BENCH_CHROMIUM") or next(
        (p for p in map(shutil.which, CANDIDATES) if p), None
    )
    if not found:
        sys.exit(f"no Chromium found ({', '.join(CANDIDATES)}); apt-get install chromium")
    return found


def demo_report(folder: Path) -> Path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from results import html
    from tests.support.frames import report_frames

    f = report_frames()
    path = folder / "demo-report.html"
    html.write_html(path, html.render_report(f.results(), f.samples(), [1, 2]))
    return path


def shoot(report: Path, out: Path, widths: list[int]) -> list[Path]:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    url = report.resolve().as_uri()
    written = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=ARGS)
        try:
            for width in widths:
                page = browser.new_page(viewport={"width": width, "height": 900})
                page.route("**/*", lambda r: r.continue_() if r.request.url == url else r.abort())
                page.goto(url, wait_until="load")
                page.wait_for_timeout(500)
                full = out / f"report-{width}.png"
                page.screenshot(path=str(full), full_page=True)
                written.append(full)
                chart = page.locator("figure.chart").first
                point = chart.locator(".scatterlayer .trace .point").first
                if point.count():
                    chart.scroll_into_view_if_needed()
                    box = point.bounding_box()
                    if box is not None:  # Plotly hovers on mouse moves over its drag layer
                        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
                        page.wait_for_timeout(300)
                    hover = out / f"hover-{width}.png"
                    chart.screenshot(path=str(hover))
                    written.append(hover)
                page.close()
        finally:
            browser.close()
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", nargs="?", type=Path, help="the HTML report")
    parser.add_argument("--demo", action="store_true", help="the test suite's two-run report")
    parser.add_argument("--out", type=Path, default=Path("out/screenshots"))
    parser.add_argument("--widths", default="1400,1000", help="viewport widths, px")
    args = parser.parse_args()
    try:
        widths = [int(w) for w in args.widths.split(",")]
    except ValueError:
        parser.error(f"--widths: {args.widths!r} is not a comma-separated list of integers")
    if args.demo == (args.report is not None):
        parser.error("give a REPORT or --demo (one of them)")
    report = demo_report(Path(tempfile.mkdtemp())) if args.demo else args.report
    if not report.is_file():
        parser.error(f"no such file: {report}")
    for path in shoot(report, args.out, widths):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
