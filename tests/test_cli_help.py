"""Every subcommand's --help renders (argparse %-formats help texts: a stray % crashes it)."""

from __future__ import annotations

import pytest

from suite.cli import COMMANDS, main


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_subcommand_help_renders(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert f"resnet-bench {command}" in capsys.readouterr().out
