"""The HTML report as text: self-contained, escaped, the answer first, problems marked
quietly, interactive charts with their tables, machines side by side, and the statistics
(per-process values, CI between processes, thresholds) shown and described."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from markupsafe import escape

from results import analysis, charts, compare, format, html
from results.plotting import Context
from tests.support.frames import HOSTILE, Frames, report_frames, steps
from vocab.comparison import RunShift

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
        f.results(), f.samples(), [1, 2], generated_at=datetime(2026, 1, 2, tzinfo=UTC)
    )


def words(text: str) -> str:
    """The text with every run of whitespace as one space (template lines wrap anywhere)."""
    return re.sub(r"\s+", " ", text)


def without_plotly_js(report: str) -> str:
    """The report less the one inlined plotly.js (a library's source, which names URLs it
    never fetches here: the browser tests check that nothing is requested)."""
    start = report.index("<script>")
    return report[:start] + report[report.index("</script>", start) :]


def traces(chart: charts.Chart, suffix: str = "") -> list[object]:
    return [t for t in chart.figure.data if str(t.name).endswith(suffix)]


def test_report_is_self_contained(report: str) -> None:
    assert report.startswith("<!DOCTYPE html>")
    rest = without_plotly_js(report)
    assert EXTERNAL.findall(rest) == []
    assert "http://" not in rest and "https://" not in rest
    assert "<link" not in report and "<iframe" not in report and "<script src" not in report
    # plotly.js once (in the head), then one drawing script per chart
    assert report.count("plotly.js v") == 1 and report.index("plotly.js v") < report.index("<body")
    assert rest.count("<script") == rest.count("Plotly.newPlot(")


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
    # in the charts' JSON, plotly.io escapes '<', '>' and '/', and the text is escaped
    # for Plotly's own markup first: the hover shows the string as typed
    assert "run 2 (&lt;script&gt;alert(1)&lt;\\u002fscript&gt;)" in report
    # label (title, heading, runs table), hostname, CPU, command, reason, env var value
    assert report.count(ESCAPED) >= 8
    assert f"CPU {ESCAPED}" in report
    assert f"out of memory {ESCAPED}" in report


def test_failed_skipped_and_flagged_cases_are_marked_quietly(report: str) -> None:
    assert re.search(
        r'<tr class="status-oom failed">\s*<td class="case">torch/eager r50 b64', report
    )
    assert re.search(
        r'<tr class="status-skipped">\s*<td class="case">tensorflow/graph r50 b64', report
    )
    # torch/compile r101 b64 has an outlier process (report_frames): a flag naming it
    assert re.search(
        r'<tr class="status-ok flagged">\s*<td class="case">torch/compile r101 b64', report
    )
    for badge in ("oom", "skipped"):
        assert f'<span class="badge {badge}">{badge}</span>' in report
    assert '<span class="badge flag">outlier process</span>' in report
    assert "badge unstable" not in report and "unstable</span>" not in report
    attention = report.split('id="attention"')[1].split("</section>")[0]
    assert "torch/eager r50 b64" in attention  # failed: needs a look
    assert "torch/compile r101 b64" in attention  # a real flag
    assert "tensorflow/graph r50 b64" not in attention  # skipped by design (no CUDA)
    assert '<span class="badge error">1 failed</span>' in report
    assert '<span class="badge flagged">1 flagged</span>' in report
    # no badge on an ok case, and no other row marked
    assert 'badge ok">ok</span>' not in report.split('id="summary"')[1]
    assert report.count('class="status-ok flagged"') == 1


def test_flagged_cases_say_why(report: str) -> None:
    f = report_frames()
    summary = analysis.summary(f.results())
    (reason,) = summary[summary["flag_text"] != ""]["flag_text"]  # torch/compile's, stored
    assert reason.startswith("outlier process 4: +30") and "left out" in reason
    attention = report.split('id="attention"')[1].split("</section>")[0]
    shown = re.search(r"torch/compile r101 b64[^<]*: <code>([^<]*)</code>", attention)
    assert shown and shown[1] == str(escape(reason))
    row = re.search(r'<tr class="status-ok flagged">(.*?)</tr>', report, re.S)
    assert row and str(escape(reason)) in row[1]  # the summary's reason cell


def test_legacy_unstable_is_said_quietly() -> None:
    f = report_frames()
    df = f.results()
    legacy = json.dumps([{"kind": "legacy", "process": None, "detail": "CI target missed"}])
    df.loc[df["result_id"] == 15, "flags"] = legacy  # a run stored before flags
    out = html.render_report(df, f.samples(), [1, 2])
    label = analysis.summary(df).query("result_id == 15")["case"].iloc[0]
    attention = out.split('id="attention"')[1].split("</section>")[0]
    assert label not in attention and "legacy" not in attention
    row = re.search(rf'<tr class="status-ok"><td class="case">{re.escape(label)}(.*?)</tr>', out)
    assert row and "unstable (stored before flags)" in row[1] and "badge" not in row[1]


def test_the_answer_comes_first(report: str) -> None:
    order = [report.index(f'id="{s}"') for s in ("answer", "attention", "charts", "summary")]
    assert order == sorted(order)
    assert report.index('id="what"') > report.index('id="changes"')  # last, and collapsed
    assert '<details class="what">' in report
    answer = words(report.split('id="answer"')[1].split("</section>")[0])
    assert "torch eager vs tensorflow graph on &lt;script&gt;" in answer
    assert "torch 1.09x [" in answer and "faster at ResNet-50 batch 1 inference" in answer
    assert '<th colspan="7">ResNet-101 cpu inference 224px, 2 threads</th>' in answer
    assert "<td>torch/compile fp32</td>" in answer and "fastest" in answer


def test_every_chart_has_its_table(report: str) -> None:
    figures = report.split('<figure class="chart ')[1:]
    assert len(figures) == report.count("Plotly.newPlot(") > 5
    for fig in figures:
        body = fig.split("</figure>")[0]
        assert "Table of this chart" in body and body.count("<tr>") > 1


def test_sections_and_charts(report: str) -> None:
    for kind in ("tradeoff", "throughput", "ratio", "latency", "ceiling", "depth"):
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


def _latency(f: Frames) -> charts.Chart:
    summary = analysis.summary(f.results())
    (chart,) = charts.latency_charts(summary, f.samples(), Context.of(f.results()))
    return chart


def test_chart_text_is_escaped_and_not_parsed_as_math() -> None:
    f = Frames().run(1)
    f.result(1, "torch", 50, 1, steps(0.01))
    summary = analysis.summary(f.results())
    summary["framework"] = f"{HOSTILE} $x^2$"  # as if the database held it
    summary["case"] = f"{HOSTILE} $x^2$ r50 b1"
    (chart,) = charts.latency_charts(summary, f.samples(), Context.of(f.results()))
    assert HOSTILE not in chart.html and "<script>alert" not in chart.html
    (value,) = traces(chart)[2:]
    assert value.y == (f"{ESCAPED} $x^2$/eager r50 b1",)
    assert "MathJax" not in chart.html


def test_latency_chart_has_one_dot_per_process_and_the_case_value_with_its_ci() -> None:
    f = Frames().run(1)
    for depth, n in ((50, 3), (101, 7), (152, 1)):
        f.result(1, "torch", depth, 8, steps(0.01 * depth / 50, n=42, seed=n), processes=n)
    chart = _latency(f)
    (box,) = traces(chart, charts.STEPS_NAME)
    (dots,) = traces(chart, charts.PROCESS_NAME)
    (value,) = traces(chart, "torch/eager")
    assert len(box.x) == 3 * 42  # every step in the boxes, never as process marks
    assert [dots.y.count(f"torch/eager r{d} b8") for d in (50, 101, 152)] == [3, 7, 1]
    assert value.y == ("torch/eager r50 b8", "torch/eager r101 b8", "torch/eager r152 b8")
    # the CI bar exists only where there is a CI: two processes or more
    bars = [p + m for p, m in zip(value.error_x.array, value.error_x.arrayminus, strict=True)]
    assert bars[0] > 0 and bars[1] > 0 and bars[2] == 0
    assert "processes: 7" in value.hovertext[1] and "commit abc123" in value.hovertext[1]


def test_every_chart_is_drawn_in_the_report_template(report: str) -> None:
    """In the report (the template is Plotly's default while its charts are made, then the
    default as before) and outside it, every chart has the plotly_white template."""
    import plotly.io as pio

    before = pio.templates.default
    body = without_plotly_js(report)
    assert body.count("Plotly.newPlot(") == body.count('"plot_bgcolor":"white"') > 0
    f = Frames().run(1)
    f.result(1, "torch", 50, 8, steps(0.01))
    assert _latency(f).figure.layout.template == pio.templates["plotly_white"]
    assert pio.templates.default == before


def test_process_dots_sit_at_the_process_values() -> None:
    # three processes whose medians are 10, 20 and 40 ms; the value is their geometric mean
    f = Frames().run(1)
    f.result(1, "torch", 50, 8, [0.010] * 5 + [0.020] * 5 + [0.040] * 5, processes=3)
    assert [round(v, 9) for v in analysis.process_values(f.samples())[1]] == [0.01, 0.02, 0.04]
    chart = _latency(f)
    (dots,) = traces(chart, charts.PROCESS_NAME)
    assert [round(x, 6) for x in dots.x] == [10.0, 20.0, 40.0]
    (value,) = traces(chart, "torch/eager")
    assert value.x[0] == pytest.approx(20.0)
    assert chart.table.rows[0][2] == "10.0, 20.0, 40.0"


def test_pareto_front_marks_the_batches_worth_choosing() -> None:
    # (ms/step, images/s): b1 (10, 100), b8 (50, 160), b16 (120, 133): b16 is dominated
    assert charts.pareto_front([(10.0, 100.0), (50.0, 160.0), (120.0, 133.0)]) == [0, 1]
    assert charts.pareto_front([(10.0, 100.0), (10.0, 100.0)]) == [0, 1]  # ties both stay
    f = Frames().run(1)
    for batch, step in ((1, 0.010), (8, 0.050), (16, 0.120)):
        f.result(1, "torch", 50, batch, steps(step, seed=batch))
    f.result(1, "tensorflow", 50, 8, steps(0.045, seed=9))  # beats torch b8 on both
    summary = analysis.summary(f.results())
    (chart,) = charts.tradeoff_charts(summary, Context.of(f.results()))
    (front,) = traces(chart, charts.PARETO_NAME)
    ips = [round(y) for y in front.y]
    assert ips == [100, 178]  # torch b1, then tensorflow b8
    on_front = {(r[1], r[2]) for r in chart.table.rows if r[-1] == "yes"}
    assert on_front == {("torch/eager", "1"), ("tensorflow/graph", "8")}


def test_summary_shows_the_value_with_its_ci_between_processes(report: str) -> None:
    f = report_frames()
    summary = analysis.summary(f.results())
    header = report.split('<table class="summary">')[1].split("</thead>")[0]
    assert "ms/step [95% CI between processes]" in header
    assert '<th class="num">processes</th>' in header
    assert "step IQR / median (diagnostic)" in header
    row = summary[(summary["run_id"] == 2) & (summary["case"].str.startswith("torch/eager r50 b8"))]
    (rec,) = row.to_dict("records")
    assert rec["processes"] == 5 and rec["ci_low_ms"] < rec["value_ms"] < rec["ci_high_ms"]
    # the case value is the geometric mean of its per-process values, not the pooled median
    per_process = analysis.process_values(f.samples())[rec["result_id"]] * 1000.0
    assert rec["value_ms"] == pytest.approx(float(np.exp(np.log(per_process).mean())))
    ci = format.fmt_ci(rec["value_ms"], rec["ci_low_ms"], rec["ci_high_ms"])
    assert re.search(r"\[[0-9.]+, [0-9.]+\]$", ci)
    cells = (
        rf"<td class=\"case\">{re.escape(rec['case'])}</td><td>.*?</td>"
        rf'<td class="num">5</td><td class="num">40</td><td class="num">{re.escape(ci)}</td>'
    )
    assert re.search(cells, report)


def test_wording_describes_the_method_in_use(report: str, monkeypatch: pytest.MonkeyPatch) -> None:
    text = words(report)
    for old in ("Mann-Whitney", "bootstrap", "p &lt;", "median ms/step", "Median ms"):
        assert old not in text, old
    for new in (
        "geometric mean of its per-process values",
        "t-interval on the logs",
        "interleaved with the other cases in rounds",
        "Welch t-interval",
        "whole CI of the ratio lies beyond &plusmn;3.0%",
        "Benjamini-Hochberg",
        "false discovery rate across the compared cases held at 5.0%",
        "beyond &plusmn;5.0% (where <code>resnet-bench calibrate</code> measured",
    ):
        assert new in text, new
    # the framework threshold is the analysis constant, not a number in the template
    monkeypatch.setattr(analysis, "FASTER_THRESHOLD", 0.07)
    f = report_frames()
    other = words(html.render_report(f.results(), f.samples(), [1, 2]))
    assert "whole CI of the ratio lies beyond &plusmn;7.0%" in other
    assert "&plusmn;3.0%" not in other


def test_changes_take_the_run_variance_into_the_ci(report: str) -> None:
    f = report_frames()
    key = ("torch", 50, 1, "cpu", "inference", "fp32", "eager", 224, 1, "")  # compare.MATCH_KEYS
    assert len(key) == len(compare.MATCH_KEYS)
    row = r"<tr class=\"(\w+)\">(?:(?!</tr>).)*?<td>torch/eager r50 b1 [^<]*</td>(.*?)</tr>"
    plain = re.search(row, report, re.S)
    assert plain and plain[1] == "regression"  # 10% slower, beyond 5%
    assert '<td class="num">5 / 5</td>' in plain[2] and "noise floor" not in plain[2]
    shift = {(*key, 2): RunShift(0.1**2, 4.0, 5)}  # runs of this case move by 10% (sd)
    raised = html.render_report(f.results(), f.samples(), [1, 2], floors=shift)
    hit = re.search(row, raised, re.S)
    assert hit and hit[1] == "same"  # the 10% change is within what runs move by
    changes = raised.split('id="changes"')[1]
    other = re.search(r"<td>torch/eager r101 b1 [^<]*</td>(.*?)</tr>", changes, re.S)
    assert other and '<td class="num">±5.0%</td>' in other[1]


def test_undetermined_changes_have_their_own_badge() -> None:
    f = Frames().run(1).run(2)
    for run in (1, 2):
        f.result(run, "torch", 50, 1, steps(0.01 * run, seed=run), processes=1)
    out = html.render_report(f.results(), f.samples(), [1, 2])
    assert '<tr class="undetermined"><td><span class="badge undetermined">undetermined' in out
    assert ".badge.undetermined" in out and "tr.undetermined td" in out
    assert "undetermined (one process each" not in out  # one framework: no comparison
    assert "Undetermined: one process on each side" in words(out)


def test_framework_verdicts_name_the_band() -> None:
    f = Frames().run(1)
    f.result(1, "torch", 50, 1, steps(0.0100, seed=1))
    f.result(1, "tensorflow", 50, 1, steps(0.0101, seed=2))  # 1% apart: inside +/-3%
    f.result(1, "torch", 50, 8, steps(0.0800, seed=3), processes=1)
    f.result(1, "tensorflow", 50, 8, steps(0.0900, seed=4), processes=1)
    out = html.render_report(f.results(), f.samples(), [1])
    assert "same within ±3.0%" in out
    assert "undetermined (one process each, no CI)" in out
    comparison = analysis.framework_comparison(f.results(), f.samples())
    assert not comparison["significant"].any()
    assert math.isnan(comparison["ratio_ci_low"].iloc[-1])


def test_report_compares_four_frameworks_with_torch() -> None:
    f = Frames().run(1)
    for fw, scale in (("torch", 1.0), ("tensorflow", 1.2), ("jax", 2.0), ("onnxruntime", 0.8)):
        f.result(1, fw, 50, 8, steps(0.08 * scale, seed=3))
    out = html.render_report(f.results(), f.samples(), [1])
    for other in ("tensorflow/graph", "jax/jit", "onnxruntime/session"):
        assert f"{other} / torch/eager" in out
        assert f"{other} vs torch/eager per depth" in out  # its ratio chart
    assert out.count('<td class="case" rowspan="3">r50 b8') == 1  # the case once, 3 pairs
    assert "torch/eager faster than jax/jit by 100.0%" in out
    assert "onnxruntime/session faster than torch/eager by 25.0%" in out


def test_single_run_report_has_no_history(report: str) -> None:
    f = Frames().run(1)
    f.result(1, "torch", 50, 1, steps(0.01))
    out = html.render_report(f.results(), f.samples(), [1])
    assert "Changes since" not in out and 'class="chart chart-throughput"' in out
    with pytest.raises(ValueError, match="run"):
        html.render_report(f.results(), f.samples(), [7])


def test_write_html_is_atomic(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "report.html"
    assert html.write_html(target, "<p>old</p>") == target
    html.write_html(target, "<p>new</p>")
    assert target.read_text(encoding="utf-8") == "<p>new</p>"
    with pytest.raises(TypeError):
        html.write_html(target, None)  # type: ignore[arg-type]
    assert target.read_text(encoding="utf-8") == "<p>new</p>"
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.html"]


def test_number_formatting() -> None:
    assert format.fmt(12345.678) == "12,346"
    assert format.fmt(0.012345) == "0.0123"
    assert format.fmt(float("nan")) == format.MISSING
    assert format.fmt_ci(10.0, 9.5, 10.5) == "10.0 [9.50, 10.5]"
    assert format.fmt_change(1.07) == "+7.0%"
    assert format.fmt_p(0.0001) == "<0.001"
    assert format.fmt_bytes(8 * 2**30) == "8.00 GiB"


def test_ratio_and_depth_hovers_name_what_produced_each_point() -> None:
    """The framework-ratio and depth charts' hover says run, commit and versions, as the
    case charts' do (issue 20: hover shows the run, commit and versions)."""
    f = Frames().run(1)
    for depth in (50, 101, 152):
        f.result(1, "torch", depth, 8, steps(0.01 * depth / 50, seed=depth))
        f.result(1, "tensorflow", depth, 8, steps(0.012 * depth / 50, seed=depth + 1))
    df = f.results()
    ctx = Context.of(df)
    comparison = analysis.framework_comparison(df, f.samples())
    (ratio,) = charts.ratio_charts(comparison, ctx)
    hover = ratio.figure.data[0].hovertext[0]
    assert "run 1 (run 1), commit abc123" in hover and "tensorflow 2.21.0" in hover
    assert "torch 2.13.0" in hover and "rounds paired" in hover
    (depth,) = charts.depth_charts(analysis.depth_scaling(df), ctx)
    hovers = [h for t in depth.figure.data if t.hovertext for h in t.hovertext]
    assert hovers and all("commit abc123" in h and "python 3.11.9" in h for h in hovers)
