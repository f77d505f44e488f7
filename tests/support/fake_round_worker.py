"""A stand-in for runners.worker's event protocol: `python -m tests.support.fake_round_worker EV`.

Each case's batch size picks what happens to it: 1 ok (one 1 ms step), 3 the worker kills
itself with SIGKILL mid-case, 4 it hangs, 5 it exits with status 3.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

from vocab.case import Case
from vocab.measurement import Measurement, ProcessRecord

request = json.load(sys.stdin)
with open(sys.argv[1], "a") as out:

    def emit(event: dict[str, object]) -> None:
        out.write(json.dumps(event) + "\n")
        out.flush()

    emit({"event": "ready", "t": time.time_ns()})
    print("fake round worker starting", file=sys.stderr)
    for pos, (data, index) in enumerate(zip(request["cases"], request["processes"], strict=True)):
        case = Case.from_dict(data)
        emit({"event": "start", "position": pos, "t": time.time_ns()})
        if case.batch_size == 3:
            os.kill(os.getpid(), signal.SIGKILL)
        elif case.batch_size == 4:
            time.sleep(600)
        elif case.batch_size == 5:
            sys.exit(3)
        record = ProcessRecord(index=index, round=request["round"], pid=os.getpid())
        m = Measurement(
            case=case, samples_ns=[1_000_000], sample_process=[index], process_records=[record]
        )
        emit({"event": "done", "position": pos, "measurement": m.to_dict()})
