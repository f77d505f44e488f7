"""A stand-in for runners.worker's event protocol: `python -m tests.support.fake_round_worker EV`.

Each case's batch size picks what happens to it: 1 ok (one 1 ms step), 3 the worker kills
itself with SIGKILL mid-case, 4 it hangs, 5 it exits with status 3, 7 it writes an event
of a kind the protocol does not know.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

from vocab.measurement import Measurement, ProcessRecord
from vocab.messages import Done, Event, Ready, Start, decode_request, encode_event

request = decode_request(sys.stdin.read())
with open(sys.argv[1], "a") as out:

    def emit(event: Event) -> None:
        out.write(encode_event(event) + "\n")
        out.flush()

    emit(Ready(time.time_ns()))
    print("fake round worker starting", file=sys.stderr)
    for pos, (case, index) in enumerate(zip(request.cases, request.processes, strict=True)):
        emit(Start(pos, time.time_ns()))
        if case.batch_size == 3:
            os.kill(os.getpid(), signal.SIGKILL)
        elif case.batch_size == 4:
            time.sleep(600)
        elif case.batch_size == 5:
            sys.exit(3)
        elif case.batch_size == 7:
            out.write(json.dumps({"event": "finished", "position": pos}) + "\n")
            out.flush()
            sys.exit(0)
        record = ProcessRecord(index=index, round=request.round, pid=os.getpid())
        m = Measurement(
            case=case, samples_ns=[1_000_000], sample_process=[index], process_records=[record]
        )
        emit(Done(pos, m))
