"""Data-parallel training on TensorFlow: `tf.distribute.MultiWorkerMirroredStrategy` over
one process per replica on the CPU (a generated TF_CONFIG with free localhost ports), or
`MirroredStrategy` over several local GPUs in one process.

    python -m runners.tf_multiworker OUT.json < request.json     (one CPU worker task)

TensorFlow has no launcher for its workers: the worker process measuring the case starts
the tasks in its own process group (the manager's timeout kills them with it) and each
task dies with it. The timing rule is runners.distributed's: a step ends when every task has
finished it (the output read back, then an all-reduce of the tasks' step times), task 0
keeps the clock, every task decides on the agreed (slowest) step time.

Gradients: under a tf.distribute strategy Keras' optimizer SUMs the replicas' gradients, so
each replica's loss is its per-example losses over the GLOBAL batch
(`tf.nn.compute_average_loss`) and the regulariser over the replica count: the sum is then
the gradient of the whole batch's mean loss.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from runners.distributed import (
    PROGRESS_DIR_ENV,
    die_with_launcher,
    free_port,
    take_rank0_timing,
    threads_per_rank,
    time_replicated,
)
from vocab.case import Case
from vocab.details import Details, Replication
from vocab.measurement import Measurement, ProcessRecord, one_line
from vocab.messages import (
    Nodes,
    RankClock,
    RankReport,
    WorkerRequest,
    decode_report,
    decode_request,
    encode_report,
    encode_request,
)
from vocab.sampling import SamplingPolicy

POLL_S = 0.1


def tf_config(ports: list[int], index: int) -> str:
    """TF_CONFIG for task `index` of a localhost cluster on `ports`."""
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    return json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})


def make_strategy(tf: Any, case: Case) -> Any:
    """Several GPUs of this host: MirroredStrategy over cuda:0..N-1 in this process; CPU:
    MultiWorkerMirroredStrategy (TF_CONFIG already set), ring all-reduce."""
    if case.is_cuda:
        have = len(tf.config.list_physical_devices("GPU"))
        if have < case.replicas:
            raise RuntimeError(f"{case.replicas} replicas need {case.replicas} GPUs; {have} here")
        return tf.distribute.MirroredStrategy([f"/GPU:{i}" for i in range(case.replicas)])
    options = tf.distribute.experimental.CommunicationOptions(
        implementation=tf.distribute.experimental.CommunicationImplementation.RING
    )
    return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)


def replica_loss(tf: Any, per_example: Any, global_batch: int, regulariser: Any = None) -> Any:
    """The loss one replica differentiates, so that the strategy's SUM of gradients is the
    gradient of the global batch's mean loss (plus the regulariser once)."""
    loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
    if regulariser is not None:
        loss += tf.nn.scale_regularization_loss(regulariser)
    return loss


def task_main(case: Case, policy: SamplingPolicy, threads: int, out: Path) -> None:
    """One CPU worker task (or the one process of MirroredStrategy): build, time, write."""
    from networks import build_model
    from runners.tf_runner import LEARNING_RATE, MOMENTUM, import_tensorflow
    from vocab.spec import WEIGHT_DECAY

    tf = import_tensorflow()
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(case.interop_threads)
    import keras

    strategy = make_strategy(tf, case)
    resolver = getattr(strategy.cluster_resolver, "task_id", None)
    task = int(resolver or 0)
    workers = 1 if case.is_cuda else case.replicas
    with strategy.scope():
        model = build_model("tensorflow", case.depth, case.num_classes, precision=case.precision)
        opt = keras.optimizers.SGD(learning_rate=LEARNING_RATE, momentum=MOMENTUM)
        opt.build(model.trainable_variables)
    local = case.batch_size * strategy.num_replicas_in_sync // workers
    x = tf.random.uniform((local, case.image_size, case.image_size, 3))
    y = tf.random.uniform((local,), maxval=case.num_classes, dtype=tf.int32)
    kernels = [v for v in model.trainable_variables if len(v.shape) == 4]
    dataset = strategy.experimental_distribute_values_from_function(
        lambda ctx: (
            (
                x[ctx.replica_id_in_sync_group * case.batch_size :][: case.batch_size],
                y[ctx.replica_id_in_sync_group * case.batch_size :][: case.batch_size],
            )
            if case.is_cuda
            else (x, y)
        )
    )

    def replica_step(images: Any, labels: Any) -> Any:
        with tf.GradientTape() as tape:
            logits = tf.cast(model(images, training=True), tf.float32)
            per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
            l2 = tf.add_n([tf.reduce_sum(tf.square(tf.cast(k, tf.float32))) for k in kernels])
            loss = replica_loss(tf, per_example, case.global_batch, 0.5 * WEIGHT_DECAY * l2)
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    def run_step() -> Any:
        return strategy.run(replica_step, args=dataset)

    def sum_replicas(own_ms: Any) -> Any:
        def reduce() -> Any:
            ctx = tf.distribute.get_replica_context()
            # float32 ms: 7 significant digits, a microsecond at 10 s steps
            return ctx.all_reduce(tf.distribute.ReduceOp.SUM, tf.one_hot(task, workers) * own_ms)

        return strategy.run(reduce)

    train, agree_fn = tf.function(run_step), tf.function(sum_replicas)

    last: dict[str, Any] = {}

    def exchange(own_ns: int) -> list[int]:
        """Every task's value, through the strategy's own all-reduce (SUM of one-hots). One
        process (MirroredStrategy): its own value, nothing to exchange."""
        if workers == 1:
            return [own_ns]
        summed = agree_fn(tf.constant(own_ns / 1e6, tf.float32))
        return [round(float(v) * 1e6) for v in strategy.experimental_local_results(summed)[0]]

    def agree(own_ns: int) -> int:
        return max(exchange(own_ns))

    def step() -> None:
        last["loss"] = train()

    def device_sync() -> None:
        for value in strategy.experimental_local_results(last["loss"]):
            value.numpy()  # the step's loss on the host: its work is done

    timing = time_replicated(step, device_sync, agree, policy, case.device, task)
    medians = exchange(int(statistics.median(timing.own_ns)))
    clock = None
    if task == 0:
        clock = RankClock(
            tuple(timing.clock_ns), tuple(timing.starts_ns), tuple(timing.warmup_ns),
            timing.warmup_stable,
        )  # fmt: skip
    report = RankReport(
        rank=task,
        pid=os.getpid(),
        device=case.device,
        threads=tf.config.threading.get_intra_op_parallelism_threads(),
        median_ns=tuple(medians),
        clock=clock,
        facts={
            "strategy": "MirroredStrategy" if case.is_cuda else "MultiWorkerMirroredStrategy",
            "replicas_in_sync": strategy.num_replicas_in_sync,
            "version": tf.__version__,
        },
    )
    out.write_text(encode_report(report))


def measure_replicated(
    case: Case,
    policy: SamplingPolicy,
    record: ProcessRecord,
    result: Measurement,
    nodes: Nodes | None = None,  # several nodes are runners.ddp's; one here
) -> Measurement:
    """Start the tasks (CPU: one per replica), wait for all, fill in `result` from task 0.
    A task that fails ends the others and the case is an error naming it. The tasks' logs
    and results go in a folder inside the worker's own (removed with it)."""
    with tempfile.TemporaryDirectory(dir=os.environ.get(PROGRESS_DIR_ENV)) as folder:
        return _measure(case, policy, record, result, Path(folder))


def _measure(
    case: Case, policy: SamplingPolicy, record: ProcessRecord, result: Measurement, folder: Path
) -> Measurement:

    tasks = 1 if case.is_cuda else case.replicas
    threads = threads_per_rank(case, tasks)
    ports = [free_port() for _ in range(tasks)]
    # A task's request: the worker's own, one case, its threads in the variables below.
    request = encode_request(WorkerRequest((case,), (record.index,), record.round, policy))
    procs: list[subprocess.Popen[bytes]] = []
    for index in range(tasks):
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), TF_NUM_INTRAOP_THREADS=str(threads))
        if not case.is_cuda:
            env["TF_CONFIG"] = tf_config(ports, index)
        with (folder / f"task{index}.log").open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "runners.tf_multiworker", str(folder / f"task{index}.json")],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        assert proc.stdin is not None
        proc.stdin.write(request.encode())
        proc.stdin.close()
        procs.append(proc)
    failed = _wait_all(procs)
    if failed is not None:
        index, code = failed
        tail = " ".join((folder / f"task{index}.log").read_text(errors="replace").split()[-40:])
        how = f"killed by signal {-code}" if code < 0 else f"exit {code}"
        result.status = "error"
        result.reason = one_line(
            RuntimeError(
                f"worker task {index} ({how}) failed; the other tasks were stopped: {tail}"
            )
        )
        return result
    returned = [decode_report((folder / f"task{i}.json").read_text()) for i in range(tasks)]
    first = returned[0]
    take_rank0_timing(result, record, first)
    result.sync = "loss read back on each task, then an all-reduce of step times; task 0's clock"
    assert first.clock is not None  # take_rank0_timing checked it
    result.details = Details(
        runner={
            "strategy": first.facts.get("strategy"),
            "tf_config_ports": ports if tasks > 1 else None,
            "all_reduce": "RING" if tasks > 1 else "MirroredStrategy default (NCCL)",
        },
        warmup_ns=first.clock.warmup_ns,
        replication=Replication(
            replicas=case.replicas,
            global_batch=case.global_batch,
            threads_per_rank=threads,
            # MirroredStrategy runs every replica in one process: no per-replica step time.
            rank_median_s=tuple(ns / 1e9 for ns in first.median_ns) if tasks > 1 else (),
            rank_pids={str(r.rank): r.pid for r in returned},
        ),
    )
    return result


def _wait_all(procs: list[subprocess.Popen[bytes]]) -> tuple[int, int] | None:
    """Wait for every task; at the first failure kill the rest and return (index, code)."""
    while True:
        codes = [p.poll() for p in procs]
        bad = next(((i, c) for i, c in enumerate(codes) if c not in (None, 0)), None)
        if bad is not None:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            return bad[0], int(bad[1] or 0)
        if all(c == 0 for c in codes):
            return None
        time.sleep(POLL_S)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m runners.tf_multiworker OUT.json < request.json", file=sys.stderr)
        return 2
    die_with_launcher()
    request = decode_request(sys.stdin.read())
    threads = int(os.environ["TF_NUM_INTRAOP_THREADS"])
    task_main(request.cases[0], request.policy, threads, Path(argv[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
