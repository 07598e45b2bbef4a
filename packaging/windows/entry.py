"""PyInstaller entry point for asr-agent.exe: the ordinary command line, which also hosts
the Windows service (`asr-agent.exe service _windows-service`, started by the SCM)."""

import sys

from asr_agent.cli import main

if __name__ == "__main__":
    sys.exit(main())
