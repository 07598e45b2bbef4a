"""Both command lines list every sub-command and report errors the same way."""

from __future__ import annotations

import pytest

from asr_agent import cli as agent_cli
from asr_central import cli as central_cli


@pytest.mark.parametrize("cli", [agent_cli, central_cli])
def test_every_command_is_listed_in_help(cli, capsys) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    for name in cli.COMMANDS:
        assert name.replace("_", "-") in text or name in text


def test_an_asr_error_becomes_one_line_and_exit_2(udp_port: int, capsys) -> None:
    """Nothing listens on the free loopback port: the poll times out, said in one line."""
    assert agent_cli.main(["poll", f"127.0.0.1:{udp_port}", "--timeout", "0.2", "--retries", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("asr-agent poll: error:"), err
    assert f"127.0.0.1:{udp_port}" in err[0]
