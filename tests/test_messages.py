"""The typed messages (vocab.messages) and a measurement's details (vocab.details): every
type survives its encoder and decoder; a bad message is one clear line; the details the
harness stored before they were typed still decode, to the same JSON."""

from __future__ import annotations

import io
import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runners import probe as probe_module
from runners import worker
from vocab import details as details_codec
from vocab.case import FRAMEWORKS, Case
from vocab.details import RESERVED, Details, DetailsError, Replication
from vocab.measurement import Measurement, ProcessRecord
from vocab.messages import (
    CutShort,
    Done,
    MessageError,
    NodeJob,
    Nodes,
    PlanRecord,
    ProbeRequest,
    RankClock,
    RankReport,
    Ready,
    Start,
    WorkerRequest,
    decode_event,
    decode_job,
    decode_plan,
    decode_probe,
    decode_report,
    decode_request,
    encode_event,
    encode_job,
    encode_plan,
    encode_probe,
    encode_report,
    encode_request,
)
from vocab.sampling import SamplingPolicy
from vocab.spec import DEPTHS

ints = st.integers(min_value=0, max_value=2**53)
seconds = st.floats(min_value=1e-6, max_value=1e3, allow_nan=False)
texts = st.text(max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | ints | st.floats(allow_nan=False, allow_infinity=False) | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)
facts = st.dictionaries(texts.filter(lambda k: k not in RESERVED), json_values, max_size=4)
cases = st.builds(
    Case,
    framework=st.sampled_from(FRAMEWORKS),
    depth=st.sampled_from(sorted(DEPTHS)),
    batch_size=st.integers(1, 64),
    threads=st.integers(1, 8),
)
policies = st.builds(SamplingPolicy, min_samples=st.integers(1, 50), min_processes=st.just(2))
rank_lists = st.lists(seconds, max_size=4).map(tuple)
replications = st.builds(
    Replication,
    replicas=st.integers(1, 8),
    global_batch=st.integers(1, 512),
    threads_per_rank=st.integers(1, 8),
    rank_median_s=rank_lists,
    rank_forward_median_s=rank_lists,
    rank_median_s_by_process=st.lists(rank_lists, max_size=3).map(tuple),
    rank_forward_median_s_by_process=st.lists(rank_lists, max_size=3).map(tuple),
    rank_pids=st.dictionaries(texts, ints, max_size=3),
    rank_devices=st.dictionaries(texts, texts, max_size=3),
)
details = st.builds(
    Details,
    runner=facts,
    warmup_ns=st.lists(ints, max_size=5).map(tuple),
    env=st.none() | st.dictionaries(texts, texts, max_size=3),
    traceback=st.none() | texts,
    replication=st.none() | replications,
)
nodes = st.builds(Nodes, nnodes=st.integers(2, 8), rdzv_endpoint=texts, node_rank=st.integers(0, 7))


@st.composite
def measurements(draw: st.DrawFn) -> Measurement:
    samples = draw(st.lists(st.integers(1, 10**9), min_size=1, max_size=5))
    record = ProcessRecord(index=draw(st.integers(0, 9)), round=draw(st.integers(0, 9)))
    return Measurement(
        case=draw(cases), samples_ns=samples, process_records=[record], details=draw(details)
    )


def _through_json(data: Any) -> Any:
    return json.loads(json.dumps(data, allow_nan=False))


@given(details)
def test_details_survive_their_codec(d: Details) -> None:
    assert details_codec.decode(_through_json(details_codec.encode(d))) == d


@settings(max_examples=50)
@given(measurements())
def test_a_measurement_survives_json_with_its_details(m: Measurement) -> None:
    assert Measurement.from_json(m.to_json()) == m


@settings(max_examples=50)
@given(
    st.lists(cases, min_size=1, max_size=3),
    policies,
    st.integers(0, 99),
    st.none() | nodes,
    st.none() | ints,
)
def test_the_worker_request_survives_its_codec(
    in_round: list[Case], policy: SamplingPolicy, round_: int, where: Nodes | None, t: int | None
) -> None:
    processes = tuple(range(len(in_round)))
    request = WorkerRequest(tuple(in_round), processes, round_, policy, where, t)
    assert decode_request(encode_request(request)) == request


@settings(max_examples=50)
@given(
    st.one_of(
        st.builds(Ready, t=ints),
        st.builds(Start, position=st.integers(0, 9), t=ints),
        st.builds(Done, position=st.integers(0, 9), measurement=measurements()),
    )
)
def test_every_event_kind_survives_its_codec(event: Ready | Start | Done) -> None:
    assert decode_event(encode_event(event)) == event


@given(
    st.builds(
        ProbeRequest,
        framework=st.sampled_from(FRAMEWORKS),
        devices=st.lists(st.sampled_from(["cpu", "cuda", "cuda:1"]), min_size=1).map(tuple),
        threads=st.integers(1, 64),
        interop_threads=st.integers(1, 4),
        ceiling=st.booleans(),
    )
)
def test_the_probe_request_survives_its_codec(request: ProbeRequest) -> None:
    assert decode_probe(encode_probe(request)) == request


clocks = st.builds(
    RankClock,
    samples_ns=st.lists(ints).map(tuple),
    starts_ns=st.lists(ints).map(tuple),
    warmup_ns=st.lists(ints).map(tuple),
    warmup_stable=st.booleans(),
)


@given(
    st.builds(
        RankReport,
        rank=st.integers(0, 7),
        pid=ints,
        device=st.sampled_from(["cpu", "cuda:0"]),
        threads=st.integers(1, 8),
        median_ns=st.lists(ints, max_size=4).map(tuple),
        forward_median_ns=st.lists(ints, max_size=4).map(tuple),
        clock=st.none() | clocks,
        peak_memory=st.none() | st.tuples(ints, st.sampled_from(["rss", "device"])),
        facts=facts,
        runner=facts,
    )
)
def test_a_rank_report_survives_its_codec(report: RankReport) -> None:
    assert decode_report(encode_report(report)) == report


@settings(max_examples=50)
@given(st.none() | st.tuples(cases, policies, texts))
def test_a_node_job_and_the_end_survive_their_codec(
    job: tuple[Case, SamplingPolicy, str] | None,
) -> None:
    message = NodeJob() if job is None else NodeJob(*job)
    decoded = decode_job(encode_job(message))
    assert decoded == message and decoded.end == (job is None)


@settings(max_examples=50)
@given(
    st.builds(
        PlanRecord,
        cases=st.lists(cases, max_size=3).map(tuple),
        policy=st.none() | policies,
        timeout_s=st.none() | seconds,
        seed=st.none() | st.integers(0, 2**31),
        batch_search=st.none() | st.fixed_dictionaries({"start": st.integers(1, 4)}),
        environments=st.lists(st.fixed_dictionaries({"name": texts}), max_size=2).map(tuple),
    )
)
def test_the_plan_record_survives_its_codec(plan: PlanRecord) -> None:
    assert decode_plan(_through_json(encode_plan(plan))) == plan


def test_a_stored_plan_of_an_older_run_decodes() -> None:
    # before replication by processes: no seed, no batch search, no environments
    case = Case("torch", 50, 8)
    old = {"cases": [case.to_dict()], "policy": SamplingPolicy().to_dict(), "timeout_s": 900}
    plan = decode_plan(old)
    assert plan.cases == (case,) and plan.seed is None and plan.environments == ()
    assert plan.timeout_s == 900.0 and plan.policy == SamplingPolicy()
    assert decode_plan(old, with_cases=False).cases == ()


def _request(**change: Any) -> str:
    data: dict[str, Any] = {
        "cases": [Case("torch", 50, 1).to_dict()],
        "processes": [0],
        "round": 0,
        "policy": SamplingPolicy().to_dict(),
    }
    data.update(change)
    return json.dumps({k: v for k, v in data.items() if v is not None})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "worker request is not JSON: Expecting value"),
        ("[1]", "worker request must be a JSON object, got [1]"),
        (_request(cases=[]), "worker request has no cases"),
        (_request(round="1"), "worker request round must be an integer, got '1'"),
        (_request(round=None), "worker request round must be an integer, got nothing"),
        (
            _request(cases=[{**Case("torch", 50, 1).to_dict(), "framework": "caffe"}]),
            "worker request case 0: unknown framework 'caffe'; allowed: torch, ",
        ),
        (_request(processes=[0, 1]), "worker request names 2 process indices for 1 cases"),
        (_request(policy={"min_samples": 0}), "worker request policy: sampling min_samples"),
        (_request(colour="red"), "worker request: unknown key(s) colour; allowed: cases, "),
    ],
)
def test_a_malformed_request_is_one_clear_error(text: str, message: str) -> None:
    with pytest.raises(MessageError) as caught:
        decode_request(text)
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_the_worker_refuses_a_malformed_request_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    for main, text in ((worker.main, _request(round=None)), (probe_module.main, '{"threads": 1}')):
        monkeypatch.setattr("sys.stdin", io.StringIO(text))
        assert main([str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "must be" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_an_unknown_event_kind_is_refused_naming_the_kinds() -> None:
    with pytest.raises(
        MessageError, match=r"^unknown event kind 'finished'; allowed: ready, start, done$"
    ):
        decode_event('{"event": "finished", "position": 0}')
    with pytest.raises(MessageError, match="worker event position must be an integer"):
        decode_event('{"event": "start", "t": 1}')
    with pytest.raises(CutShort):  # a crash mid-line: not an error of the protocol
        decode_event('{"event": "do')


# Details as the harness stored them before they were typed (one flat object per result),
# for each writer: a worker's ok case, a failed case, a merged DDP case, TF's strategies.
OLD_DETAILS: list[dict[str, Any]] = [
    {
        "flush_denormal": False, "float32_matmul_precision": "highest", "channels_last": True,
        "compile": False, "cuda_graph": None, "autocast": None, "grad_scaler": False,
        "mkldnn_enabled": True, "warmup_ns": [31_000_000, 12_000_000, 11_900_000],
        "env": {"MKL_NUM_THREADS": "2", "NPROC": "2", "OMP_NUM_THREADS": "2",
                "TF_NUM_INTEROP_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "2"},
    },
    {"xla_flags": "", "NPROC": "1", "traceback": "Traceback (most recent call last):\n ..."},
    {
        "channels_last": True, "warmup_ns": [5, 4], "replicas": 2, "global_batch": 4,
        "rank_median_s": [0.11, 0.12], "rank_forward_median_s": [0.03, 0.04],
        "rank_median_s_by_process": [[0.1, 0.13], [0.121, 0.1107]],
        "rank_forward_median_s_by_process": [[0.03, 0.04], [0.03, 0.04]],
        "threads_per_rank": 1, "backend": "gloo",
        "launcher": "torch.distributed.launcher.api.elastic_launch (c10d rendezvous)",
        "rdzv_endpoint": "127.0.0.1:29500", "master": "127.0.0.1:29500", "nnodes": 1,
        "ddp_bucket_cap_mb": 25, "ddp_gradient_as_bucket_view": True,
        "rank_pids": {"0": 101, "1": 102}, "rank_devices": {"0": "cpu", "1": "cpu"},
        "env": {"OMP_NUM_THREADS": "2"},
    },
    {
        "warmup_ns": [7], "replicas": 2, "global_batch": 4, "rank_median_s": [],
        "threads_per_rank": 2, "strategy": "MirroredStrategy", "tf_config_ports": None,
        "all_reduce": "MirroredStrategy default (NCCL)", "rank_pids": {"0": 7},
        "rank_forward_median_s": [],
    },
]  # fmt: skip


@pytest.mark.parametrize("old", OLD_DETAILS)
def test_details_stored_before_they_were_typed_decode_to_the_same_json(old: dict[str, Any]) -> None:
    d = details_codec.decode(old)
    assert details_codec.encode(d) == old
    m = Measurement.from_dict(
        {"case": Case("torch", 50, 1).to_dict(), "details": old, "version": 2}
    )
    assert m.details == d and m.to_dict()["details"] == old


def test_the_reserved_details_are_typed_fields() -> None:
    ddp, tf = (details_codec.decode(OLD_DETAILS[i]) for i in (2, 3))
    assert ddp.replication is not None and ddp.replication.rank_median_s == (0.11, 0.12)
    assert ddp.replication.rank_pids == {"0": 101, "1": 102} and ddp.warmup_ns == (5, 4)
    assert ddp.env == {"OMP_NUM_THREADS": "2"} and ddp.runner["backend"] == "gloo"
    assert "replicas" not in ddp.runner and "env" not in ddp.runner
    assert tf.replication is not None and tf.replication.rank_median_s == ()
    assert details_codec.decode(None) == Details() == details_codec.decode({})
    assert details_codec.decode(OLD_DETAILS[1]).traceback is not None


@pytest.mark.parametrize(
    ("stored", "message"),
    [
        ({"warmup_ns": "fast"}, "details warmup_ns must be a list of integers, got 'fast'"),
        ({"replicas": 2, "global_batch": 4}, "details threads_per_rank must be an integer"),
        ({"env": {"OMP_NUM_THREADS": 2}}, "details env must be an object of texts"),
        ([1, 2], "details must be a JSON object, got [1, 2]"),
    ],
)
def test_a_bad_details_object_names_its_key(stored: Any, message: str) -> None:
    with pytest.raises(DetailsError) as caught:
        details_codec.decode(stored)
    assert str(caught.value).startswith(message)


def test_runner_facts_cannot_take_a_reserved_name() -> None:
    with pytest.raises(DetailsError, match="reserved key"):
        details_codec.encode(Details(runner={"replicas": 2}))


def test_merged_rank_medians_are_each_ranks_geometric_mean() -> None:
    parts = [
        Details(replication=Replication(2, 4, 1, rank_median_s=r)) for r in ((1.0, 4.0), (4.0, 1.0))
    ]
    rep = details_codec.merge(parts).replication
    assert rep is not None and rep.rank_median_s == pytest.approx((2.0, 2.0))
    assert rep.rank_median_s_by_process == ((1.0, 4.0), (4.0, 1.0))
    assert rep.rank_forward_median_s == () and math.isclose(rep.rank_median_s[0], 2.0)
