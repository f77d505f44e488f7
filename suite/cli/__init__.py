"""The `resnet-bench` command line: one module per subcommand, registered in COMMANDS.

Each subcommand module exposes `HELP: str`, `add_arguments(parser)` and
`run(args) -> int`. Bad input raises UsageError, or one of the domain errors (an unusable
database, a bad case, profile or export, a file that cannot be written, nothing to
report): main() prints its one line on stderr and exits 2, without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import NoReturn

from suite.cli.common import UsageError
from suite.cli.terminal import safe
from vocab.runtimes import titles

# subcommand -> module under suite.cli (imported lazily so `--help` stays fast)
COMMANDS: dict[str, str] = {
    "run": "suite.cli.run_cmd",
    "models": "suite.cli.models_cmd",
    "runs": "suite.cli.runs_cmd",
    "show": "suite.cli.show_cmd",
    "export": "suite.cli.export_cmd",
    "report": "suite.cli.report_cmd",
    "compare": "suite.cli.compare_cmd",
    "calibrate": "suite.cli.calibrate_cmd",
    "history": "suite.cli.history_cmd",
}

PROG = "resnet-bench"


def _module(name: str) -> ModuleType:
    return importlib.import_module(COMMANDS[name])


class Parser(argparse.ArgumentParser):
    """argparse with bad input reported as one line (no usage dump), exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {safe(message)}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog=PROG,
        description=f"Reproducible ResNet-V2 benchmarks for {titles()}.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        mod = _module(name)
        p = sub.add_parser(
            name,
            help=mod.HELP,
            description=mod.HELP,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        mod.add_arguments(p)
        p.set_defaults(_module=mod)
    return parser


def _terminate(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM ends a run like Ctrl-C: marked interrupted, resumable


def usage_errors() -> tuple[type[Exception], ...]:
    """What bad input or an unusable database raises below the CLI; each says what is
    wrong in one line (the password of a URL masked)."""
    from results.engine import StoreError
    from results.export import ExportError
    from results.files import FileWriteError
    from results.report import ReportError
    from suite.environments import EnvError
    from suite.profiles import ProfileError
    from vocab.case import CaseError

    return (UsageError, StoreError, CaseError, ProfileError, ExportError, FileWriteError,
            ReportError, EnvError)  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # argparse itself exits 2 with one usage line
    try:
        code: int = args._module.run(args)
    except usage_errors() as exc:
        print(f"{PROG}: error: {safe(str(exc))}", file=sys.stderr)  # URLs masked already
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `resnet-bench export -o - | head`: the reader left; that is not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return code


def entry() -> None:
    """The console script (and `python -m suite`): SIGTERM ends a run like Ctrl-C (marked
    interrupted, workers killed, resumable), and a Ctrl-C ignored by the shell that started
    us (background jobs) is made to count again."""
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.exit(main())
