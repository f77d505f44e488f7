"""A measurement's details: the facts around the samples that are not the case's own axes.

The reserved ones are typed fields (the warm-up steps, the worker's thread variables, a
failure's traceback, a replicated case's per-rank values); whatever else a runner tells
(channels_last, XLA flags, a launcher's endpoint...) stays an open JSON object, `runner`.

Stored as ONE flat JSON object, as before these types existed: the reserved keys beside
the runner's facts. `encode` and `decode` here are the only way in and out, so that every
database written so far decodes (an absent key is an absent fact).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace

from vocab.jsonfields import Fields, JSONObject, JSONValue


class DetailsError(ValueError):
    """A stored or sent details object that cannot be read: names the key and the value."""


@dataclass(frozen=True)
class Replication:
    """A data-parallel case's facts (runners.ddp, runners.tf_multiworker): each rank's
    median step and forward time, seconds (one process's, or the geometric mean over the
    processes after `merge`, with every process's lists kept in the `_by_process` fields)."""

    replicas: int
    global_batch: int
    threads_per_rank: int
    rank_median_s: tuple[float, ...] = ()
    rank_forward_median_s: tuple[float, ...] = ()  # the forward alone (no collective in it)
    rank_median_s_by_process: tuple[tuple[float, ...], ...] = ()
    rank_forward_median_s_by_process: tuple[tuple[float, ...], ...] = ()
    rank_pids: Mapping[str, int] = field(default_factory=dict)
    rank_devices: Mapping[str, str] = field(default_factory=dict)


PER_RANK = ("rank_median_s", "rank_forward_median_s")  # merged over processes


@dataclass(frozen=True)
class Details:
    runner: JSONObject = field(default_factory=dict)  # the runner's own facts, free-form
    warmup_ns: tuple[int, ...] = ()  # every warm-up step, as the worker timed them
    env: Mapping[str, str] | None = None  # the thread variables the worker started with
    traceback: str | None = None  # where a failed case broke
    replication: Replication | None = None


_REPLICATION_KEYS = tuple(f.name for f in fields(Replication))
RESERVED = ("warmup_ns", "env", "traceback", *_REPLICATION_KEYS)


def encode(details: Details) -> dict[str, JSONValue]:
    """The stored (and sent) JSON object: one flat level, the runner's facts included."""
    clash = sorted(set(details.runner) & set(RESERVED))
    if clash:
        raise DetailsError(f"runner facts may not use reserved key(s) {', '.join(clash)}")
    out: dict[str, JSONValue] = dict(details.runner)
    if details.warmup_ns:
        out["warmup_ns"] = list(details.warmup_ns)
    if details.env is not None:
        out["env"] = dict(details.env)
    if details.traceback is not None:
        out["traceback"] = details.traceback
    rep = details.replication
    if rep is not None:
        out.update(replicas=rep.replicas, global_batch=rep.global_batch)
        out["threads_per_rank"] = rep.threads_per_rank
        for name in PER_RANK:
            out[name] = list(getattr(rep, name))
            by_process = getattr(rep, f"{name}_by_process")
            if by_process:
                out[f"{name}_by_process"] = [list(v) for v in by_process]
        if rep.rank_pids:
            out["rank_pids"] = dict(rep.rank_pids)
        if rep.rank_devices:
            out["rank_devices"] = dict(rep.rank_devices)
    return out


def decode(data: JSONValue) -> Details:
    """Details from a stored or sent object (null: none); DetailsError when a reserved key
    holds what it never held."""
    if data is None:
        return Details()
    get = Fields(data, "details", DetailsError)
    replication = None
    if "replicas" in get.data:
        replication = Replication(
            replicas=get.integer("replicas"),
            global_batch=get.integer("global_batch"),
            threads_per_rank=get.integer("threads_per_rank"),
            rank_median_s=get.floats("rank_median_s"),
            rank_forward_median_s=get.floats("rank_forward_median_s"),
            rank_median_s_by_process=get.float_lists("rank_median_s_by_process"),
            rank_forward_median_s_by_process=get.float_lists("rank_forward_median_s_by_process"),
            rank_pids=get.ints_by_name("rank_pids"),
            rank_devices=get.texts_by_name("rank_devices"),
        )
    return Details(
        runner={k: v for k, v in get.data.items() if k not in RESERVED},
        warmup_ns=get.integers("warmup_ns"),
        env=None if get.data.get("env") is None else get.texts_by_name("env"),
        traceback=get.optional_text("traceback"),
        replication=replication,
    )


def merge(parts: Sequence[Details]) -> Details:
    """A case's details from its processes: the first's, with each per-rank list the
    geometric mean over the processes (the case value's rule) where every process has one
    of the same length, and every process's list kept beside it."""
    if not parts:
        return Details()
    first = parts[0]
    rep = first.replication
    if rep is None:
        return first
    reps = [p.replication for p in parts if p.replication is not None]
    steps = _per_rank([r.rank_median_s for r in reps])
    forwards = _per_rank([r.rank_forward_median_s for r in reps])
    if steps is not None:
        rep = replace(rep, rank_median_s=steps[0], rank_median_s_by_process=steps[1])
    if forwards is not None:
        rep = replace(
            rep, rank_forward_median_s=forwards[0], rank_forward_median_s_by_process=forwards[1]
        )
    return replace(first, replication=rep)


def _per_rank(
    values: Sequence[tuple[float, ...]],
) -> tuple[tuple[float, ...], tuple[tuple[float, ...], ...]] | None:
    """(each rank's geometric mean, every process's list); None unless every process that
    has a list has one of the same length."""
    lists = [v for v in values if v]
    if not lists or len({len(v) for v in lists}) != 1:
        return None
    means = tuple(
        math.exp(sum(math.log(v[r]) for v in lists) / len(lists)) for r in range(len(lists[0]))
    )
    return means, tuple(lists)
