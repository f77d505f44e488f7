"""A/B environments (suite.environments): the --env syntax and every bad form, a profile's
[environments], interpreters that cannot run the worker (refused before anything is
written), and a case's env in its key, label and the store."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from results.rows import case_key_text
from runners.manager import SOURCE_TREE, env_for, worker_env
from suite.cli import main
from suite.environments import EnvError, EnvSpec, check, parse_env, parse_table, unique
from suite.profiles import ProfileError, parse_profile
from vocab.case import Case, CaseError

PACKAGES = {"torch": "torch", "nosuchframework": "no_such_package_xyz"}
CASES = {"frameworks": ["torch"], "depths": [50], "batch_sizes": [1], "image_size": 32}


# --- syntax ---------------------------------------------------------------------------


def test_the_three_forms_of_spec() -> None:
    assert parse_env("off=TF_ENABLE_ONEDNN_OPTS=0,OTHER=1") == EnvSpec(
        "off", None, (("TF_ENABLE_ONEDNN_OPTS", "0"), ("OTHER", "1"))
    )
    assert parse_env("base=/venvs/torch213/bin/python") == EnvSpec(
        "base", "/venvs/torch213/bin/python"
    )
    assert parse_env("x=/venvs/x/bin/python:VAR=1,B=a=b") == EnvSpec(
        "x", "/venvs/x/bin/python", (("VAR", "1"), ("B", "a=b"))
    )
    # A value may be empty or hold ':' and '='; a relative path is made absolute.
    assert parse_env("e=LD_PRELOAD=").vars == {"LD_PRELOAD": ""}
    assert parse_env("e=P=/a:/b").vars == {"P": "/a:/b"}
    assert parse_env("r=venv/bin/python").python == os.path.abspath("venv/bin/python")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("noequals", "expected NAME=SPEC"),
        ("=A=1", "bad environment name ''"),
        ("1x=A=1", "bad environment name '1x'"),
        ("a b=A=1", "bad environment name 'a b'"),
        ("e=", "empty SPEC"),
        ("e=A=1,", "empty variable"),
        ("e=A=1,,B=2", "empty variable"),
        ("e=A=1,B", "bad variable 'B'"),
        ("e=A=1,2B=3", "bad variable '2B=3'"),
        ("e=A=1,A=2", "variable A set twice"),
        ("e=:A=1", "no interpreter before ':'"),
        ("e=/venv/bin/python:", "no variables after ':'"),
        ("e=/venv/bin/python:A", "bad variable 'A'"),
    ],
)
def test_every_bad_form_is_one_line_naming_it(text: str, says: str) -> None:
    with pytest.raises(EnvError, match=None) as err:
        parse_env(text)
    message = str(err.value)
    assert says in message and "\n" not in message
    assert message.startswith(f"--env {text!r}")


def test_a_name_twice_is_refused() -> None:
    with pytest.raises(EnvError, match="environment 'a' named twice"):
        unique([parse_env("a=X=1"), parse_env("b=X=2"), parse_env("a=X=3")])


NAMES = st.from_regex(r"[A-Za-z][A-Za-z0-9_.-]{0,10}", fullmatch=True)
VAR_NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
VALUES = st.text(st.characters(blacklist_characters=",\x00", codec="utf-8"), max_size=8)


@given(
    name=NAMES,
    python=st.none() | st.from_regex(r"/[a-z0-9_/.]{1,20}", fullmatch=True),
    variables=st.dictionaries(VAR_NAMES, VALUES, max_size=3),
)
def test_a_spec_reads_back_as_written(
    name: str, python: str | None, variables: dict[str, str]
) -> None:
    if python is None and not variables:
        return
    python = None if python is None else os.path.abspath(python)
    spec = EnvSpec(name, python, tuple(variables.items()))
    assert parse_env(spec.describe()) == spec
    assert EnvSpec.from_dict(spec.to_dict()) == spec


def test_the_cli_refuses_bad_syntax_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "r.sqlite"
    for args, says in (
        (["--env", "a=X=1,B"], "--env 'a=X=1,B': bad variable 'B'"),
        (["--env", "a=X=1", "--env", "a=X=2"], "--env: environment 'a' named twice"),
    ):
        try:  # argparse exits itself on a bad value; main() returns 2 on the rest
            code = main(["run", "--profile", "smoke", *args, "--db", f"sqlite:///{db}"])
        except SystemExit as exc:
            code = exc.code
        err = capsys.readouterr().err.strip()
        assert code == 2
        assert len(err.splitlines()) == 1 and says in err, err
    assert not db.exists()


# --- profiles -------------------------------------------------------------------------


def test_a_profile_names_environments_as_spec_or_table() -> None:
    profile = parse_profile(
        {
            "cases": CASES,
            "environments": {
                "on": "TF_ENABLE_ONEDNN_OPTS=1",
                "new": {"python": "/venvs/new/bin/python", "vars": {"A": "1", "B": 2}},
                "old": {"python": "/venvs/old/bin/python"},
            },
        },
        "p",
    )
    assert [e.name for e in profile.environments] == ["on", "new", "old"]
    assert profile.environments[1] == EnvSpec(
        "new", "/venvs/new/bin/python", (("A", "1"), ("B", "2"))
    )
    cases = profile.cases()
    assert [c.env for c in cases] == ["on", "new", "old"]  # every case in each
    # --env replaces the table
    cli = profile.with_overrides(environments=[parse_env("x=A=1")])
    assert [c.env for c in cli.cases()] == ["x"]


@pytest.mark.parametrize(
    ("table", "says"),
    [
        (["a"], "must be a table"),
        ({"a": 3}, "expected a SPEC string or a table"),
        ({"a": {"pyhton": "/x"}}, "unknown key 'pyhton'"),
        ({"a": {}}, "give python, vars or both"),
        ({"a": {"vars": {"A": True}}}, "vars must be a table"),
        ({"a": {"python": ""}}, "python must be an interpreter path"),
        ({"1a": "A=1"}, "bad environment name '1a'"),
        ({"a": "A=1,B"}, "bad variable 'B'"),
    ],
)
def test_bad_environment_tables_are_named(table: object, says: str) -> None:
    with pytest.raises(ProfileError) as err:
        parse_profile({"cases": CASES, "environments": table}, "p")
    assert says in str(err.value) and str(err.value).startswith("profile 'p'")
    with pytest.raises(EnvError):
        parse_table(table, "p")


# --- the case -------------------------------------------------------------------------


def test_env_is_part_of_the_key_and_shown_only_when_set() -> None:
    plain = Case("torch", 50, 1)
    a, b = Case("torch", 50, 1, env="a"), Case("torch", 50, 1, env="b")
    assert len({plain.key(), a.key(), b.key()}) == 3
    assert plain.label() == "torch/eager r50 b1 cpu inference fp32 224px"
    assert a.label() == "torch/eager r50 b1 cpu inference fp32 224px @a"
    # Old pending rows (no env) keep their key text; a case read back without env has "".
    assert '"env"' not in case_key_text(plain) and '"env": "a"' in case_key_text(a)
    assert Case.from_dict({k: v for k, v in plain.to_dict().items() if k != "env"}) == plain
    with pytest.raises(CaseError, match="bad environment name 'a b'"):
        Case("torch", 50, 1, env="a b")


# --- interpreters ---------------------------------------------------------------------


def _script(path: Path, body: str) -> Path:
    path.write_text(body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _venv_without_numpy(tmp_path: Path) -> Path:
    """A real virtualenv with nothing installed (no pip: seconds)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "v")], check=True)
    return tmp_path / "v" / "bin" / "python"


def test_bad_interpreters_are_named_before_any_worker(tmp_path: Path) -> None:
    base = worker_env(1, 1)
    not_exec = tmp_path / "python"
    not_exec.write_text("#!/bin/sh\n")
    isolated = _script(tmp_path / "isolated", f'#!/bin/sh\nexec {sys.executable} -I -S "$@"\n')
    cases = [
        (tmp_path / "missing" / "python", "does not exist"),
        (not_exec, "is not an executable file"),
        (tmp_path, "is not an executable file"),
        (isolated, "cannot import resnet-bench's worker: ModuleNotFoundError"),
        (_venv_without_numpy(tmp_path), "cannot import resnet-bench's worker: ModuleNotFoundError"),
    ]
    for python, says in cases:
        with pytest.raises(EnvError) as err:
            check([EnvSpec("new", str(python))], PACKAGES, base)
        message = str(err.value)
        assert f"environment 'new': interpreter {python} {says}" in message, message
        assert "\n" not in message


def test_a_good_interpreter_says_which_frameworks_it_has(tmp_path: Path) -> None:
    # A second, real interpreter: a venv whose site-packages reach this one's (a .pth).
    python = _venv_without_numpy(tmp_path)
    import site

    site_dir = next(tmp_path.glob("v/lib/python*/site-packages"))
    (site_dir / "base.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    found = check(
        [EnvSpec("venv", str(python)), EnvSpec("vars", None, (("A", "1"),))],
        PACKAGES,
        worker_env(1, 1),
    )
    assert found == {
        "venv": {"torch": True, "nosuchframework": False},
        "vars": {"torch": True, "nosuchframework": False},
    }


def test_another_interpreter_gets_this_source_tree_first() -> None:
    env = env_for({"PYTHONPATH": "/elsewhere", "A": "0"}, "/venv/bin/python", {"A": "1"})
    assert env["A"] == "1"
    assert SOURCE_TREE is not None  # the tests run from the checkout
    assert env["PYTHONPATH"] == f"{SOURCE_TREE}{os.pathsep}/elsewhere"
    # The run's own interpreter needs nothing: it imports this tree already.
    assert "PYTHONPATH" not in env_for({}, None, {"A": "1"})


def test_the_cli_refuses_a_missing_interpreter_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "r.sqlite"
    missing = tmp_path / "nope" / "python"
    code = main(["run", "--profile", "smoke", "--env", f"new={missing}", "--db", f"sqlite:///{db}"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err == f"resnet-bench: error: environment 'new': interpreter {missing} does not exist"
    assert not db.exists()


# --- real runs (workers) --------------------------------------------------------------

SMALL = ["--profile", "smoke", "--frameworks", "torch", "--depths", "50", "--batch-sizes", "2",
         "--modes", "inference", "--processes", "1", "--max-processes", "1",
         "--threads", "1"]  # fmt: skip


def _venv_reaching_this_one(tmp_path: Path, log: Path) -> Path:
    """A second interpreter: a real venv whose site-packages reach this one's (a .pth
    after its own), and which notes the pid of every process it starts (a .pth line)."""
    import site

    python = _venv_without_numpy(tmp_path)
    site_dir = next(tmp_path.glob("v/lib/python*/site-packages"))
    (site_dir / "base.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    (site_dir / "note.pth").write_text(
        f"import os; open({str(log)!r}, 'a').write(f'{{os.getpid()}}\\n')\n"
    )
    return python


@pytest.mark.slow
def test_an_ab_run_stores_both_environments_and_their_software(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import results
    from results.compare import env_differences
    from results.store import open_store

    log = tmp_path / "pids.txt"
    venv = _venv_reaching_this_one(tmp_path, log)
    url = f"sqlite:///{tmp_path / 'r.sqlite'}"
    envs = ["--env", "a=ONEDNN_VERBOSE=0", "--env", f"v={venv}:ONEDNN_VERBOSE=0,AB_SIDE=v"]
    assert main(["run", *SMALL, *envs, "--db", url]) == 0
    with open_store(url, create=False) as store:
        info = store.get_run(1)
        df = results.load(store, [1])
        procs = results.load_processes(store, [1])
    assert sorted(df["env"]) == ["a", "v"] and set(df["status"]) == {"ok"}
    named = {e["name"]: e for e in info.environments}
    assert named["a"]["python"] is None and named["v"]["python"] == str(venv)
    assert named["v"]["variables"] == {"ONEDNN_VERBOSE": "0", "AB_SIDE": "v"}
    for e in named.values():  # software probed inside each: versions and build info
        assert e["software"]["versions"] and e["software"]["framework_info"]["torch"]
    # a ceiling measured in each, and each case's share taken against its own
    assert {c["env"] for c in info.ceilings} == {"a", "v"}
    own = {c["env"]: c["gflops"] for c in info.ceilings if c["precision"] == "fp32"}
    assert df.set_index("env")["ceiling_gflops"].to_dict() == own
    # the other environment's workers started with its interpreter: their pids are noted
    v_ids = set(df.loc[df["env"] == "v", "result_id"])
    v_pids = {int(p) for p in procs.loc[procs["result_id"].isin(v_ids), "pid"]}
    a_pids = {int(p) for p in procs.loc[~procs["result_id"].isin(v_ids), "pid"]}
    noted = {int(line) for line in log.read_text().split()}
    assert v_pids and v_pids <= noted and not (a_pids & noted)
    differs = env_differences(df, 1)
    assert differs.loc["env:AB_SIDE", "v"] == "v" and differs.loc["env:AB_SIDE", "a"] is None
    assert "env_python" in differs.index
    capsys.readouterr()
    assert main(["show", "1", "--db", url]) == 0
    shown = capsys.readouterr().out
    assert "environments (A/B in this run)" in shown and "env:AB_SIDE" in shown
    assert "measured ceilings" in shown and "env" in shown.split("measured ceilings")[1]


def test_a_framework_missing_in_one_environment_is_skipped_there_naming_its_install() -> None:
    from suite.session import gather_context

    env = EnvSpec("x", None, (("AB_SIDE", "x"),))
    case = Case("torch", 50, 1, image_size=32, threads=1, env="x")
    context = gather_context([case], lambda _m: None, [env], {"x": {"torch": False}})
    reason = context.skip_reason(case) or ""
    assert f"torch is not installed in environment 'x' ({sys.executable})" in reason
    assert f"{sys.executable} -m pip install 'resnet-bench[torch]'" in reason
    # its software was still probed inside it, with its variables
    (named,) = context.named
    assert named["name"] == "x" and named["software"]["env_vars"]["AB_SIDE"] == "x"
    assert named["software"]["python_version"] and context.environment is named["software"]


def test_each_environment_measures_its_own_ceiling(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first framework probed in each environment measures the ceiling there (its
    variables reach the probe), once per environment; each ceiling names its environment."""
    from runners.probe import empty_result
    from suite import session

    calls: list[tuple[str, bool, Any]] = []

    def fake_probe(fw: str, *_a: Any, ceiling: bool, variables: Any = None, **_k: Any) -> Any:
        calls.append((fw, ceiling, variables))
        out = empty_result(fw)
        out["version"] = "1"
        if ceiling:
            capped = dict(variables or ()).get("ONEDNN_MAX_CPU_ISA") == "AVX2"
            gflops = 400.0 if capped else 1000.0
            out["ceilings"] = [
                {"device": "cpu", "precision": "fp32", "gflops": gflops, "details": None}
            ]
        return out

    monkeypatch.setattr(session, "probe", fake_probe)
    envs = [
        EnvSpec("base", None, (("ONEDNN_MAX_CPU_ISA", "ALL"),)),
        EnvSpec("avx2", None, (("ONEDNN_MAX_CPU_ISA", "AVX2"),)),
    ]
    cases = [
        Case(fw, 50, 1, image_size=32, threads=1, env=e.name)
        for e in envs
        for fw in ("torch", "tensorflow")
    ]
    has = {e.name: {"torch": True, "tensorflow": True} for e in envs}
    context = session.gather_context(cases, lambda _m: None, envs, has)
    assert [(fw, ceiling) for fw, ceiling, _v in calls] == [
        ("torch", True), ("tensorflow", False), ("torch", True), ("tensorflow", False)
    ]  # fmt: skip
    assert [(c.get("env"), c["gflops"]) for c in context.ceilings] == [
        ("base", 1000.0),
        ("avx2", 400.0),
    ]
