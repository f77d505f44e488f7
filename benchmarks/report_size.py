"""The size of the `quick` profile's HTML report, from a synthetic quick-shaped database.

    python benchmarks/report_size.py [--runs 5] [--out DIR]

A real `quick` run takes about 8 minutes on 2 idle cores; this builds the same shape in
seconds instead: the profile's cases (suite/profiles/quick.toml: its frameworks, depths,
batches), each with `min_processes` processes in interleaved rounds and as many timed
steps per process as quick's min_samples/min_time_s give at that case's step time (times
from ResNet MACs at a nominal 50 GMAC/s, +/-2% between processes), on one fake machine,
over `--runs` runs (the report shows the latest and up to four earlier ones, plus the
History section). Prints the report's size in bytes and MiB, and its path.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from results.report import write_report
from results.store import open_store
from suite.profiles import load_profile
from tests.support.store import fake_environment, fake_machine
from vocab.case import Case
from vocab.measurement import Measurement, ProcessRecord
from vocab.spec import gmacs

GMACS_PER_S = 50.0  # nominal CPU speed: what sets the steps per process


def quick_measurement(case: Case, processes: int, min_samples: int, min_time_s: float,
                      rng: random.Random) -> Measurement:  # fmt: skip
    step_s = gmacs(case.depth, case.image_size) * case.batch_size / GMACS_PER_S
    per_process = max(min_samples, int(min_time_s / step_s) + 1)
    samples, owner, records = [], [], []
    t0 = 1_790_000_000 * 10**9
    for p in range(processes):
        offset = rng.gauss(0.0, 0.02)
        steps = [
            int(step_s * 1e9 * (1 + offset + rng.gauss(0.0, 0.01))) for _ in range(per_process)
        ]
        samples += steps
        owner += [p] * per_process
        records.append(
            ProcessRecord(index=p, round=p, pid=1000 + p, started_ns=t0 + p * 10**10,
                          startup_ns=2 * 10**9, warmup_steps=3, warmup_ns=int(3 * step_s * 1e9),
                          first_step_ns=int(2 * step_s * 1e9), measured_ns=sum(steps))
        )  # fmt: skip
    return Measurement(
        case=case,
        samples_ns=samples,
        sample_process=owner,
        process_records=records,
        warmup_steps=3,
        first_step_ns=int(2 * step_s * 1e9),
        threads_intra=case.threads,
        threads_inter=1,
        processes=processes,
        gmacs_per_image=gmacs(case.depth, case.image_size),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs in the database (default 5)")
    parser.add_argument("--out", type=Path, default=None, help="folder (default: a temp dir)")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error(f"--runs: {args.runs} is not a positive integer")
    profile = load_profile("quick")
    out = args.out or Path(tempfile.mkdtemp())
    out.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{out / 'quick.sqlite'}"
    policy, axes = profile.sampling, profile.axes
    rng = random.Random(0)
    cases = [
        Case(fw, depth, batch, threads=2, image_size=int(axes["image_size"]))
        for fw in axes["frameworks"]
        for depth in axes["depths"]
        for batch in axes["batch_sizes"]
    ]
    with open_store(url) as store:
        for i in range(args.runs):
            run_id = store.begin_run(
                label=f"quick {i + 1}", command="resnet-bench run --profile quick",
                profile="quick", source="cli",
                machine=fake_machine(gpu_count=0, gpu_name=None, gpus=[]),
                environment=fake_environment(), ceilings=[],
            )  # fmt: skip
            for case in cases:
                m = quick_measurement(
                    case, policy.min_processes, policy.min_samples, policy.min_time_s, rng
                )
                store.add_result(run_id, m)
            store.finish_run(run_id)
        path = write_report(store, out / "report.html")
    size = path.stat().st_size
    print(f"{len(cases)} cases x {args.runs} runs: report {size:,} bytes ({size / 2**20:.2f} MiB)")
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
