"""A stand-in worker for the manager's failure handling:
`python -m tests.support.fake_worker OUT`."""

from __future__ import annotations

import json
import os
import signal
import sys
import time

request = json.load(sys.stdin)
behaviour = request["behaviour"]
print("fake worker starting", file=sys.stderr)
if behaviour == "hang":
    time.sleep(600)
elif behaviour == "sigkill":
    os.kill(os.getpid(), signal.SIGKILL)
elif behaviour == "segv":
    os.kill(os.getpid(), signal.SIGSEGV)
elif behaviour == "exit3":
    print("something broke", file=sys.stderr)
    sys.exit(3)
elif behaviour == "ok":
    with open(sys.argv[1], "w") as out:
        json.dump({"echo": request}, out)
