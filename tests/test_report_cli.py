"""`resnet-bench report` and `resnet-bench compare` against a real SQLite result store."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from results.store import open_store
from suite.cli import main
from suite.cli.common import UsageError
from suite.cli.compare_cmd import parse_threshold
from tests.support.store import fake_environment, fake_machine
from vocab.case import Case
from vocab.measurement import Measurement

HOSTILE = "[red]<b>x</b>[/red]"


def _measurement(framework: str, batch: int, step_s: float, seed: int) -> Measurement:
    """Five processes of eight steps, each process with its own offset (sd 1%)."""
    rng = random.Random(seed)
    offsets = [rng.gauss(0.0, 0.01) for _ in range(5)]
    owner = [i // 8 for i in range(40)]
    samples = [int(step_s * 1e9 * (1.0 + offsets[p] + 0.01 * rng.uniform(-1, 1))) for p in owner]
    return Measurement(
        case=Case(framework, 50, batch, threads=2),
        samples_ns=samples,
        sample_process=owner,
        warmup_steps=3,
        first_step_ns=int(step_s * 5e9),
        threads_intra=2,
        threads_inter=1,
        gmacs_per_image=4.1,
    )


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    """OUTPUT holding results.sqlite with three runs.

    run 1 (machine A): torch and tensorflow at batch 1 and 8.
    run 2 (machine B): the same cases, another machine.
    run 3 (machine A, torch 2.14): torch batch 1 10% slower, tensorflow batch 8 out of memory.
    """
    out = tmp_path / "out"
    store = open_store(f"sqlite:///{out / 'results.sqlite'}")
    machines = [fake_machine(gpu_count=0, gpu_name=None), fake_machine(hostname="bench-b")]
    plans = [
        (0, "base-run", {}, {("torch", 1): 0.010}),
        (1, "other-machine-run", {}, {}),
        (0, HOSTILE, {"torch_version": "2.14.0"}, {("torch", 1): 0.011, ("tensorflow", 8): 0}),
    ]
    with store:
        for i, (machine, label, env, changes) in enumerate(plans):
            run_id = store.begin_run(
                label=label,
                command="resnet-bench run",
                profile="quick",
                source="cli",
                machine=machines[machine],
                environment=fake_environment(**env),
                ceilings=[{"device": "cpu", "precision": "fp32", "gflops": 500.0}],
            )
            for fw, base in (("torch", 0.010), ("tensorflow", 0.012)):
                for batch in (1, 8):
                    step = changes.get((fw, batch), base * batch)
                    if step == 0:
                        m = Measurement.failed(Case(fw, 50, batch, threads=2), "oom", "OOM")
                    else:
                        m = _measurement(fw, batch, step, seed=10 * i + batch)
                    store.add_result(run_id, m)
            store.finish_run(run_id)
    return out


def _db(out: Path) -> list[str]:
    return ["--db", f"sqlite:///{out / 'results.sqlite'}"]


# ------------------------------------------------------------------------- report


def test_report_default_is_latest_run_with_its_machines_history(
    out_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "--output", str(out_dir)]) == 0
    stdout = capsys.readouterr().out
    path = Path(stdout.strip())
    assert path == (out_dir / "report.html").resolve()
    html = path.read_text(encoding="utf-8")
    assert "Changes since run 1" in html  # run 2 ran on another machine: not context
    assert "other-machine-run" not in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html
    assert "torch_version" in html and "2.14.0" in html  # the environment difference
    assert html.count("Plotly.newPlot(") >= 4


def test_report_selected_runs_to_a_file(
    out_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "reports" / "r2.html"
    assert main(["report", *_db(out_dir), "--runs", "2", "-o", str(target)]) == 0
    assert capsys.readouterr().out.strip() == str(target.resolve())
    html = target.read_text(encoding="utf-8")
    assert "other-machine-run" in html and "Changes since" not in html


def test_report_unknown_run_is_a_usage_error(
    out_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", *_db(out_dir), "--runs", "1", "99"]) == 2
    err = capsys.readouterr().err
    assert "unknown run 99" in err and len(err.strip().splitlines()) == 1
    assert not (out_dir / "report.html").exists()


def test_report_on_an_empty_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    open_store(url).close()
    assert main(["report", "--db", url, "--output", str(tmp_path)]) == 2
    assert "no runs" in capsys.readouterr().err
    assert main(["report", "--db", f"sqlite:///{tmp_path / 'missing.sqlite'}"]) == 2
    assert "no result database" in capsys.readouterr().err


# ------------------------------------------------------------------------ compare


def test_compare_finds_the_regression(out_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", "1", "3", *_db(out_dir)]) == 1
    out = capsys.readouterr().out
    assert "regression" in out and "torch/eager r50 b1" in out
    assert "+10" in out  # the 10% slow-down
    assert "not comparable" in out  # tensorflow b8 failed in run 3
    assert "torch_version" in out and "2.14.0" in out
    assert HOSTILE in out  # rich markup in a label is printed, not interpreted


def test_compare_without_regression_exits_0(
    out_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["compare", "1", "1", *_db(out_dir)]) == 0
    assert "regression" not in capsys.readouterr().out.replace("regression(s)", "")
    # 10% is below a 50% threshold; tensorflow b8 crashed in run 3 where run 1 measured it:
    # the gate's exit 1 unless --allow-missing
    assert main(["compare", "1", "3", "--threshold", "50%", *_db(out_dir)]) == 1
    assert "1 case(s) the base measured crashed in the candidate" in capsys.readouterr().out
    argv = ["compare", "1", "3", "--threshold", "50%", "--allow-missing", *_db(out_dir)]
    assert main(argv) == 0


def test_compare_json(out_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", "1", "latest", "--json", *_db(out_dir)]) == 1
    doc = json.loads(capsys.readouterr().out)  # stdout is JSON and nothing else
    assert doc["base"]["id"] == 1 and doc["cand"]["id"] == 3
    assert doc["threshold"] == pytest.approx(0.05)
    assert doc["regressions"] == 1
    by_case = {(c["framework"], c["batch_size"]): c for c in doc["cases"]}
    assert by_case[("torch", 1)]["verdict"] == "regression"
    assert by_case[("torch", 1)]["ratio"] == pytest.approx(1.1, rel=0.02)
    assert by_case[("tensorflow", 8)]["verdict"] == "not comparable"
    assert by_case[("tensorflow", 8)]["ratio"] is None
    assert {"setting": "torch_version", "base": "2.13.0", "cand": "2.14.0"} in doc["environment"]


def test_calibrate_refuses_too_few_runs_and_uncalibrated_compare_says_so(
    out_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Bad input: one line, exit 2, nothing stored (tests/test_calibrate.py: the real thing).
    assert main(["calibrate", "--from-runs", "1,3", *_db(out_dir)]) == 2
    assert "at least 5" in capsys.readouterr().err
    assert main(["calibrate", "--from-runs", "1,x", *_db(out_dir)]) == 2
    assert main(["compare", "1", "3", *_db(out_dir)]) == 1
    out = " ".join(capsys.readouterr().out.split())  # the terminal's width wraps it
    assert "run-to-run variance not calibrated on this machine for any case" in out
    assert "`--by env`" in out and "`resnet-bench calibrate`" in out


def test_report_uses_the_faster_threshold(
    out_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = out_dir / "r.html"
    assert main(["report", "--runs", "1", "3", "-o", str(page), *_db(out_dir)]) == 0
    assert "&plusmn;3" in page.read_text()
    args = ["report", "--runs", "1", "3", "--faster-threshold", "40%", "-o", str(page)]
    assert main([*args, *_db(out_dir)]) == 0
    assert "&plusmn;40" in page.read_text()
    capsys.readouterr()
    assert main(["report", "--faster-threshold", "x", *_db(out_dir)]) == 2
    assert "bad --faster-threshold 'x'" in capsys.readouterr().err


def test_compare_unknown_run_exits_2(out_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", "1", "99", *_db(out_dir)]) == 2
    captured = capsys.readouterr()
    assert "unknown run 99" in captured.err and captured.out == ""


def test_compare_bad_threshold_exits_2(out_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", "1", "3", "--threshold", "five", *_db(out_dir)]) == 2
    assert "'five'" in capsys.readouterr().err


@pytest.mark.parametrize(("text", "value"), [("5%", 0.05), ("0.05", 0.05), (" 2.5% ", 0.025)])
def test_parse_threshold(text: str, value: float) -> None:
    assert parse_threshold(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["", "abc", "-1%", "150%", "5", "nan", "inf%"])
def test_parse_threshold_rejects(text: str) -> None:
    with pytest.raises(UsageError, match="threshold"):
        parse_threshold(text)


def test_show_leads_with_the_headline_and_decisions(
    out_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["show", "1", *_db(out_dir)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    # torch's steps are 1.2x shorter than tensorflow's at both batches
    assert lines[0].startswith("torch eager vs tensorflow graph on ")
    assert "torch 1.20x [" in lines[0] and "torch faster in 2" in lines[0]
    assert "best throughput" in lines[1]
    # 10 ms per image at both batches; the best latency is batch 1 (10 ms, not 80)
    assert lines[2].lstrip().startswith("1. torch/eager fp32:") and "ms at batch 1" in lines[2]
    assert lines[3].lstrip().startswith("2. tensorflow/graph fp32:")
    assert out.index("best throughput") < out.index("machine")


def test_report_runs_of_two_machines_side_by_side(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A CPU host and a GPU host in one database (the second machine's facts faked): the
    same cases on each, their values, ratios with CIs, and each machine's main facts."""
    url = f"sqlite:///{tmp_path / 'team.sqlite'}"
    machines = [
        fake_machine(
            hostname="cpu-host", cpu_model="AMD EPYC 9654 96-Core Processor", cores_physical=96,
            cores_logical=192, memory_bytes=768 * 2**30, gpu_count=0, gpu_name=None, gpus=[],
            gpu_driver=None, gpu_cuda_driver=None,
        ),
        fake_machine(hostname="gpu-host"),
    ]  # fmt: skip
    with open_store(url) as store:
        for i, (machine, scale) in enumerate(zip(machines, (1.0, 0.5), strict=True)):
            run_id = store.begin_run(
                label=f"on {machine['hostname']}",
                command="resnet-bench run",
                profile="quick",
                source="cli",
                machine=machine,
                environment=fake_environment(torch_version=("2.13.0", "2.14.0")[i]),
                ceilings=[],
            )
            for fw in ("torch", "tensorflow"):
                store.add_result(run_id, _measurement(fw, 8, 0.08 * scale, seed=i))
            if i == 0:  # a case only the CPU host ran
                store.add_result(run_id, _measurement("torch", 1, 0.01, seed=5))
            store.finish_run(run_id)
    target = tmp_path / "team.html"
    assert main(["report", "--db", url, "--runs", "1,2", "-o", str(target)]) == 0
    capsys.readouterr()
    page = target.read_text(encoding="utf-8")
    section = page.split('id="machines"')[1].split("</section>")[0]
    facts = section.split('<table class="side-by-side">')[0]
    for fact in ("cpu-host", "gpu-host", "AMD EPYC 9654", "Platinum 8480+", "96 physical",
                 "768 GiB", "512 GiB", "NVIDIA H100", "torch 2.13.0", "torch 2.14.0"):  # fmt: skip
        assert fact in facts, fact
    rows = re.findall(r"<tr><td class=\"case\">(.*?)</tr>", section, re.S)
    assert len(rows) == 2  # the cases both ran; torch b1 ran on the CPU host only
    for row in rows:
        # run 2 (the primary, most recent: gpu-host) first; cpu-host's steps take twice as long
        ratio = re.search(r'<td class="num">([0-9.]+) \[([0-9.]+), ([0-9.]+)\]</td><td>', row)
        assert ratio and 1.9 < float(ratio[2]) < 2.0 < float(ratio[3]) < 2.1, row
        assert re.search(r"<td>faster on gpu-host: (1\.9[5-9]|2\.0[0-5])x</td>", row), row
    assert "Changes since" not in page  # another machine's run is not a change
    assert main(["report", "--db", url, "--runs", "1,,2", "-o", str(target)]) == 2
    assert "empty run id in '1,,2'" in capsys.readouterr().err
