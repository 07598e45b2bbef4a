"""Installing and controlling the agent as an operating-system service: systemd on Linux
(`linux`), the Service Control Manager on Windows (`windows`).

Both modules build the exact commands they would run and hand them to an injectable
runner, so their logic is checked on any OS; only the runner touches the system.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence

SERVICE_NAME = "asr-agent"

Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


def run_command(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """The real runner: runs argv, capturing its output as text."""
    return subprocess.run(list(argv), capture_output=True, text=True)
