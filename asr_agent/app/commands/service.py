"""`asr-agent service install|uninstall|start|stop|status`: the agent as a system service
(systemd on Linux, the Service Control Manager on Windows)."""

from __future__ import annotations

import argparse
import sys

ACTIONS = ("install", "uninstall", "start", "stop", "status")


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "service", help="install, remove or control the agent's system service",
        description=__doc__.splitlines()[0])
    # The hidden dispatch action is what the Windows SCM starts; it is not for people.
    parser.add_argument("action", choices=(*ACTIONS, "_windows-service"), metavar="ACTION",
                        help=" | ".join(ACTIONS))
    parser.add_argument("--now", action="store_true",
                        help="with install: start the service right away")
    parser.set_defaults(func=run)


def backend(platform: str | None = None):
    """The service manager for this OS: a SystemdService or a WindowsService."""
    platform = sys.platform if platform is None else platform
    if platform.startswith("win"):
        from asr_agent.app.service.windows import WindowsService

        return WindowsService()
    if platform.startswith("linux"):
        from asr_agent.app.service.linux import SystemdService

        return SystemdService()
    from asr_core.errors import AsrError

    raise AsrError(f"`asr-agent service` supports Linux (systemd) and Windows, not {platform}; "
                   "run `asr-agent run` under your own service manager")


def run(args: argparse.Namespace) -> int:
    if args.action == "_windows-service":
        from asr_agent.app.service.windows import dispatch

        return dispatch()
    svc = backend()
    if args.action == "install":
        for line in svc.install(now=args.now):
            print(line)
        if not args.now:
            print("installed; edit the config, then: asr-agent service start")
    elif args.action == "uninstall":
        for line in svc.uninstall():
            print(line)
    else:
        out = svc.control(args.action)
        if out:
            sys.stdout.write(out if out.endswith("\n") else out + "\n")
    return 0
