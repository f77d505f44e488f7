"""The HTML report as text: self-contained, escaped, problems marked, charts present."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest

from results import analysis, charts, html
from tests.report_data import HOSTILE, Frames, report_frames, steps

ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
# Anything the browser would fetch from elsewhere: src/href/action/srcset attributes, CSS
# url() and @import, whatever the scheme (a protocol-relative //host counts too).
EXTERNAL = re.compile(
    r"""(?:\b(?:src|href|action|srcset|poster|data)\s*=\s*["']?\s*(?:[a-z][a-z0-9+.-]*:|//))"""
    r"""|url\(\s*["']?\s*(?!#)[^)\s]|@import""",
    re.IGNORECASE,
)


@pytest.fixture(scope="module")
def report() -> str:
    f = report_frames()
    return html.render_report(
        f.results(), f.samples(), [1, 2], generated_at=datetime(2026, 1, 2, tzinfo=timezone.utc)
    )


def test_report_is_self_contained(report: str) -> None:
    assert report.startswith("<!DOCTYPE html>")
    assert EXTERNAL.findall(report) == []
    assert "http://" not in report and "https://" not in report
    assert "<link" not in report and "<script" not in report and "<iframe" not in report


def test_external_reference_pattern_catches_what_it_should() -> None:
    # the check above is only as good as this pattern
    for bad in (
        '<img src="http://x/a.png">',
        "<a href='https://x'>",
        '<img src="//cdn.example/a.png">',
        "<div style=\"background: url('http://x/y.png')\">",
        "@import 'x.css';",
    ):
        assert EXTERNAL.search(bad), bad
    for ok in ('<a href="#summary">', '<use xlink:href="#c1-m0">', 'clip-path="url(#c1-p0)"'):
        assert not EXTERNAL.search(ok), ok


def test_every_database_string_is_escaped(report: str) -> None:
    assert HOSTILE not in report
    # label (title, heading, runs table), hostname, CPU, command, reason, env var value
    assert report.count(ESCAPED) >= 8
    assert f"CPU {ESCAPED}" in report
    assert f"out of memory {ESCAPED}" in report


def test_failed_skipped_and_unstable_cases_are_marked(report: str) -> None:
    assert re.search(r'<tr class="status-oom failed">\s*<td>torch/eager r50 b64', report)
    assert re.search(r'<tr class="status-skipped">\s*<td>tensorflow/graph r50 b64', report)
    assert re.search(r'<tr class="status-ok unstable">\s*<td>torch/compile r101 b64', report)
    for badge in ("oom", "skipped", "unstable"):
        assert f'<span class="badge {badge}">{badge}</span>' in report
    attention = report.split('id="attention"')[1].split("</section>")[0]
    assert "torch/eager r50 b64" in attention and "tensorflow/graph r50 b64" in attention
    assert "torch/compile r101 b64" in attention
    assert '<span class="badge error">1 failed</span>' in report


def test_sections_and_charts(report: str) -> None:
    for kind in ("throughput", "ratio", "latency", "ceiling", "depth"):
        assert f'class="chart chart-{kind}"' in report, kind
    assert "Framework comparison" in report
    assert "tensorflow/graph / torch/eager" in report  # the compared pair
    assert "torch/eager faster than tensorflow/graph" in report
    assert "Changes since run 1" in report
    assert re.search(
        r'<span class="badge regression">regression</span></td><td>torch/eager', report
    )
    assert "Environment differences" in report and "torch_version" in report


def test_element_ids_are_unique(report: str) -> None:
    ids = Counter(re.findall(r'\bid="([^"]+)"', report))
    assert ids and [i for i, n in ids.items() if n > 1] == []
    # every in-page reference points at an id that exists
    refs = set(re.findall(r'(?:href="#|url\(#)([^")]+)', report))
    assert refs and refs <= set(ids)


def test_chart_text_is_escaped_and_not_parsed_as_math() -> None:
    f = Frames().run(1)
    f.result(1, "torch", 50, 1, steps(0.01))
    summary = analysis.summary(f.results())
    summary["framework"] = f"{HOSTILE} $x^2$"  # as if the database held it
    (chart,) = charts.latency_charts(summary, f.samples())
    assert HOSTILE not in chart.svg and "<script" not in chart.svg
    assert f"{ESCAPED} $x^2$/eager r50 b1" in chart.svg


def test_single_run_report_has_no_history(report: str) -> None:
    f = Frames().run(1)
    f.result(1, "torch", 50, 1, steps(0.01))
    out = html.render_report(f.results(), f.samples(), [1])
    assert "Changes since" not in out and 'class="chart chart-throughput"' in out
    with pytest.raises(ValueError, match="run"):
        html.render_report(f.results(), f.samples(), [7])


def test_write_report_is_atomic(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "report.html"
    assert html.write_report(target, "<p>old</p>") == target
    html.write_report(target, "<p>new</p>")
    assert target.read_text(encoding="utf-8") == "<p>new</p>"
    with pytest.raises(TypeError):
        html.write_report(target, None)  # type: ignore[arg-type]
    assert target.read_text(encoding="utf-8") == "<p>new</p>"
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.html"]


def test_number_formatting() -> None:
    assert html.fmt(12345.678) == "12,346"
    assert html.fmt(0.012345) == "0.0123"
    assert html.fmt(float("nan")) == html.MISSING
    assert html.fmt_ci(10.0, 9.5, 10.5) == "10.0 [9.50, 10.5]"
    assert html.fmt_change(1.07) == "+7.0%"
    assert html.fmt_p(0.0001) == "<0.001"
    assert html.fmt_bytes(8 * 2**30) == "8.00 GiB"
