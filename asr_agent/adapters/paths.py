"""Where the agent keeps its files: the config file, data, logs and keys on each OS.

The only module that knows OS paths; everything else asks it for an `AgentPaths`.

Rules, first match wins, for each location:

* config file: `--config PATH` > `ASR_CONFIG` > the platform default below.
* data dir:    `ASR_DATA_DIR` > config key `store.data_dir` > the platform default.
* log dir:     the directory of config key `logging.file` > the platform default.
* key dir:     always `<data dir>/keys`, so a data dir move carries the agent's identity.

Platform defaults:

* Windows (always, the agent runs as a machine-wide service): platformdirs' site dirs,
  i.e. `%ProgramData%\\ASR\\asr-agent\\config.yaml`, data in the same folder, logs in
  `...\\Logs`.
* Linux running as a system service: `/etc/asr-agent/config.yaml`, `/var/lib/asr-agent`,
  `/var/log/asr-agent`. "System service" means effective uid 0, or systemd started the
  process (`INVOCATION_ID` is set). systemd's `CONFIGURATION_DIRECTORY`, `STATE_DIRECTORY`
  and `LOGS_DIRECTORY` (set by `ConfigurationDirectory=` etc. in the unit), when present,
  replace the conventional directories.
* Any other run (a user on Linux, macOS): platformdirs' user dirs, e.g.
  `~/.config/asr-agent/config.yaml`, `~/.local/share/asr-agent`, `~/.local/state/asr-agent/log`.

The rule functions take the environment, OS name and uid as arguments so each rule can be
checked without being that OS or that user; `current_paths()` feeds them the real ones.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

APP_NAME = "asr-agent"
APP_AUTHOR = "ASR"
CONFIG_FILE_NAME = "config.yaml"

LINUX_SERVICE_CONFIG_DIR = Path("/etc/asr-agent")
LINUX_SERVICE_DATA_DIR = Path("/var/lib/asr-agent")
LINUX_SERVICE_LOG_DIR = Path("/var/log/asr-agent")


@dataclass(frozen=True)
class BaseDirs:
    """The platform's default directories for the agent, before any override."""

    config_dir: Path
    data_dir: Path
    log_dir: Path


@dataclass(frozen=True)
class AgentPaths:
    config_file: Path
    data_dir: Path
    log_dir: Path
    key_dir: Path
    service: bool  # True when the system-wide locations are in use


def system_name(platform: str | None = None) -> str:
    """`sys.platform` folded to "windows", "linux", "darwin" or the raw name."""
    platform = sys.platform if platform is None else platform
    if platform.startswith("win") or platform == "cygwin":
        return "windows"
    if platform.startswith("linux"):
        return "linux"
    return platform


def running_as_service(env: Mapping[str, str], system: str, uid: int | None) -> bool:
    """Whether the system-wide locations apply (see the module docstring for the rule)."""
    if system == "windows":
        return True
    if system != "linux":
        return False
    return uid == 0 or bool(env.get("INVOCATION_ID"))


def _systemd_dir(env: Mapping[str, str], name: str) -> Path | None:
    # systemd passes a colon-separated list when a unit names several directories.
    value = env.get(name, "")
    first = value.split(":", 1)[0]
    return Path(first) if first else None


def windows_dirs(program_data: Path) -> BaseDirs:
    """The layout under ProgramData, as platformdirs' site dirs lay it out."""
    root = program_data / APP_AUTHOR / APP_NAME
    return BaseDirs(config_dir=root, data_dir=root, log_dir=root / "Logs")


def _program_data() -> Path:
    # Asks Windows itself (known folder API); only callable on Windows.
    from platformdirs.windows import get_win_folder

    return Path(get_win_folder("CSIDL_COMMON_APPDATA"))


def base_dirs(env: Mapping[str, str], system: str, service: bool, *,
              program_data: Path | None = None) -> BaseDirs:
    """The platform default directories (platformdirs, or the Linux service conventions).

    `program_data` stands in for Windows' ProgramData folder so the Windows rule can be
    checked on any OS; on Windows it defaults to the real one.
    """
    if system == "windows":
        return windows_dirs(program_data if program_data is not None else _program_data())
    if system == "linux" and service:
        return BaseDirs(
            config_dir=_systemd_dir(env, "CONFIGURATION_DIRECTORY") or LINUX_SERVICE_CONFIG_DIR,
            data_dir=_systemd_dir(env, "STATE_DIRECTORY") or LINUX_SERVICE_DATA_DIR,
            log_dir=_systemd_dir(env, "LOGS_DIRECTORY") or LINUX_SERVICE_LOG_DIR,
        )
    from platformdirs import PlatformDirs

    dirs = PlatformDirs(appname=APP_NAME, appauthor=False)
    return BaseDirs(config_dir=Path(dirs.user_config_dir), data_dir=Path(dirs.user_data_dir),
                    log_dir=Path(dirs.user_log_dir))


def resolve_paths(env: Mapping[str, str], base: BaseDirs, *, service: bool,
                  config_file: str | os.PathLike[str] | None = None,
                  data_dir: str | os.PathLike[str] | None = None,
                  log_file: str | os.PathLike[str] | None = None) -> AgentPaths:
    """Apply the override rules to `base`.

    `config_file` is the `--config` argument; `data_dir` and `log_file` are the config keys
    `store.data_dir` and `logging.file` (already absolute, as the config loader makes them).
    """
    if config_file is not None:
        cfg = Path(config_file)
    elif env.get("ASR_CONFIG"):
        cfg = Path(env["ASR_CONFIG"])
    else:
        cfg = base.config_dir / CONFIG_FILE_NAME
    if env.get("ASR_DATA_DIR"):
        data = Path(env["ASR_DATA_DIR"])
    elif data_dir is not None:
        data = Path(data_dir)
    else:
        data = base.data_dir
    logs = Path(log_file).parent if log_file is not None else base.log_dir
    return AgentPaths(config_file=cfg, data_dir=data, log_dir=logs, key_dir=data / "keys",
                      service=service)


def _euid() -> int | None:
    geteuid = getattr(os, "geteuid", None)  # absent on Windows
    return geteuid() if geteuid is not None else None


def current_paths(*, config_file: str | os.PathLike[str] | None = None,
                  data_dir: str | os.PathLike[str] | None = None,
                  log_file: str | os.PathLike[str] | None = None,
                  env: Mapping[str, str] | None = None) -> AgentPaths:
    """The paths for this process: real OS, uid and environment unless `env` is given."""
    env = os.environ if env is None else env
    system = system_name()
    service = running_as_service(env, system, _euid())
    return resolve_paths(env, base_dirs(env, system, service), service=service,
                         config_file=config_file, data_dir=data_dir, log_file=log_file)


def default_config_file(env: Mapping[str, str] | None = None) -> Path:
    """Where the config file is looked for when no `--config` is given."""
    return current_paths(env=env).config_file
