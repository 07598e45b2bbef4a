"""The agent's self-update channel: checks a signed TUF repository, installs a newer
release beside the running one, switches to it atomically and rolls back if unhealthy.

    check()  refresh TUF metadata once  ─► channel document (signed target)
    apply()  check ─► download + verify every artifact ─► install side by side
             ─► smoke-check the new environment ─► switch `current` ─► restart hook
             ─► health check ─► keep it, or switch back and restart again

Trust comes only from the root metadata shipped in the package
(`asr_agent/data/update-root.json`); the repository URL is just where bytes come from.
TUF refuses tampered files, expired or rolled-back metadata and signatures by keys the
trusted root does not name; any such refusal becomes an `UpdateError` and leaves the
running version untouched.

Layout on Linux (the .deb installs the first version the same way):

    /opt/asr-agent/0.1.0/          a self-contained virtual environment
    /opt/asr-agent/0.2.0/          installed by the updater beside it
    /opt/asr-agent/current -> 0.2.0   the only thing the systemd unit names

On Windows the release artifact is the MSI; the platform installer does the side-by-side
work and its own rollback (`MsiInstaller`).

The two steps that touch the world are injectable: `installer` builds an environment in a
directory from verified files, `restart` restarts the service; `health_check` decides
whether the switched-to version is healthy. Tests inject an installer that writes a tiny
script instead of pip-installing a real wheel.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Protocol

from asr_agent import __version__
from asr_core.errors import UpdateError
from asr_core.secret import redact_url, url_password

__all__ = [
    "CHANNELS", "DEFAULT_REPOSITORY_URL", "CheckResult", "Installer", "MsiInstaller",
    "Release", "UpdateOutcome", "Updater", "VenvInstaller", "channel_target",
    "compare_versions", "platform_key", "shipped_root", "switch_symlink", "version_probe",
]

CHANNELS = ("off", "stable", "beta")
# The repository the package points at when the config leaves `update.url` empty.
# Placeholder until the release infrastructure exists: with the default channel "off"
# nothing is ever fetched from it.
DEFAULT_REPOSITORY_URL = "https://updates.asr.example/agent/"
CURRENT_LINK = "current"
STATE_FILE = "update-state.json"
# A channel document is a few hundred bytes; refuse anything absurd before parsing it.
_MAX_CHANNEL_DOC = 64 * 1024


def channel_target(channel: str) -> str:
    """The TUF target path of a channel document (see packaging/update-repo)."""
    return f"channels/asr-agent-{channel}.json"


def platform_key(platform: str | None = None) -> str:
    """Which artifact list of a release applies here: "linux" or "windows"."""
    platform = sys.platform if platform is None else platform
    if platform.startswith("win"):
        return "windows"
    if platform.startswith("linux"):
        return "linux"
    raise UpdateError(f"self-update is not supported on {platform}: update the agent with "
                      "your platform's package manager")


def shipped_root() -> bytes:
    """The trusted root metadata shipped inside the package."""
    return resources.files("asr_agent").joinpath("data/update-root.json").read_bytes()


_VERSION_RE = re.compile(r"^(\d+(?:\.\d+)*)(?:(a|b|rc)(\d+))?$")
_PRE_ORDER = {"a": 0, "b": 1, "rc": 2}


def _version_key(version: str) -> tuple:
    m = _VERSION_RE.match(version.strip())
    if m is None:
        raise UpdateError(f"version {version!r} is not of the form N.N.N[a|b|rcN]")
    release = tuple(int(x) for x in m.group(1).split("."))
    release = release + (0,) * (4 - len(release))
    # A final release sorts after its pre-releases.
    pre = (_PRE_ORDER[m.group(2)], int(m.group(3))) if m.group(2) else (3, 0)
    return release + pre


def compare_versions(a: str, b: str) -> int:
    """-1, 0 or 1 as version a is older than, equal to or newer than b."""
    ka, kb = _version_key(a), _version_key(b)
    return (ka > kb) - (ka < kb)


@dataclass(frozen=True)
class Release:
    """What a channel document announces."""

    channel: str
    version: str
    artifacts: tuple[str, ...]   # TUF target paths for this platform, in install order
    published: str | None = None


@dataclass(frozen=True)
class CheckResult:
    channel: str
    running_version: str
    release: Release | None       # None when the channel is off
    update_available: bool

    def describe(self) -> str:
        if self.release is None:
            return "update channel is off (set update.channel to stable or beta to opt in)"
        if self.update_available:
            return (f"update available on {self.channel}: {self.running_version} -> "
                    f"{self.release.version}")
        return (f"up to date on {self.channel}: running {self.running_version}, "
                f"channel offers {self.release.version}")


@dataclass(frozen=True)
class UpdateOutcome:
    check: CheckResult
    installed_version: str | None = None   # the version now `current`, when it changed
    rolled_back: bool = False
    detail: str = ""


class Installer(Protocol):
    """Builds a runnable agent environment in `dest` from verified artifact files."""

    def install(self, version: str, files: Sequence[Path], dest: Path) -> None: ...


@dataclass(frozen=True)
class VenvInstaller:
    """Linux: a fresh virtual environment at its final path, filled from the verified
    wheels only (`--no-index`: nothing is fetched that TUF did not verify)."""

    python: str = field(default_factory=lambda: getattr(sys, "_base_executable", sys.executable))
    timeout_s: float = 600.0

    def install(self, version: str, files: Sequence[Path], dest: Path) -> None:
        wheels = [f for f in files if f.name.endswith(".whl")]
        if not wheels:
            raise UpdateError(f"release {version} lists no wheels for Linux")
        wheelhouse = Path(tempfile.mkdtemp(prefix="asr-wheelhouse-"))
        try:
            for wheel in wheels:
                shutil.copy2(wheel, wheelhouse / wheel.name)
            # A venv records its absolute path, so it is created where it will run.
            self._run([self.python, "-m", "venv", str(dest)])
            self._run([str(dest / "bin" / "python"), "-m", "pip", "install", "--quiet",
                       "--no-index", "--find-links", str(wheelhouse), f"asr=={version}"])
        finally:
            shutil.rmtree(wheelhouse, ignore_errors=True)

    def _run(self, argv: list[str]) -> None:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=self.timeout_s)
        if proc.returncode != 0:
            raise UpdateError(f"`{' '.join(argv)}` failed ({proc.returncode}): "
                              f"{proc.stderr.strip()[-2000:]}")


@dataclass(frozen=True)
class MsiInstaller:
    """Windows: run the verified MSI silently. The MSI's MajorUpgrade replaces the
    installed version and restarts the service; Windows Installer rolls the whole
    transaction back if any step fails, so there is no side-by-side directory."""

    log_dir: Path | None = None

    def command(self, msi: Path, version: str) -> list[str]:
        argv = ["msiexec.exe", "/i", str(msi), "/qn", "/norestart"]
        if self.log_dir is not None:
            argv += ["/l*v", str(self.log_dir / f"asr-agent-{version}-install.log")]
        return argv

    def install(self, version: str, files: Sequence[Path], dest: Path) -> None:
        msis = [f for f in files if f.name.lower().endswith(".msi")]
        if len(msis) != 1:
            raise UpdateError(f"release {version} must list exactly one MSI for Windows, "
                              f"found {len(msis)}")
        proc = subprocess.run(self.command(msis[0], version), capture_output=True, text=True)
        # 3010: success, reboot required (the service restarts without one).
        if proc.returncode not in (0, 3010):
            raise UpdateError(f"msiexec failed with exit code {proc.returncode} installing "
                              f"{msis[0].name}; see the MSI log for the failing action")


def agent_executable(env_dir: Path) -> Path:
    if sys.platform.startswith("win"):
        return env_dir / "Scripts" / "asr-agent.exe"
    return env_dir / "bin" / "asr-agent"


def version_probe(env_dir: Path, expected_version: str, *, timeout_s: float = 60.0) -> None:
    """Health check: the environment's `asr-agent --version` runs and names the version."""
    exe = agent_executable(env_dir)
    try:
        proc = subprocess.run([str(exe), "--version"], capture_output=True, text=True,
                              timeout=timeout_s)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UpdateError(f"{exe} --version did not run: {exc}") from exc
    out = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0 or out.split()[-1:] != [expected_version]:
        raise UpdateError(f"{exe} --version answered {out!r} (exit {proc.returncode}), "
                          f"expected version {expected_version}")


def switch_symlink(link: Path, target: str) -> None:
    """Point `link` at `target` atomically: a reader sees the old or the new target,
    never a missing link (rename(2) over the old link)."""
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    try:
        tmp.unlink()
    except FileNotFoundError:
        pass
    os.symlink(target, tmp)
    os.replace(tmp, link)


HealthCheck = Callable[[Path, str], None]   # (switched-to env dir, version) -> raises UpdateError


class Updater:
    """One update channel for one installation.

    `channel`, `url` and `check_interval_h` come from the config's `update` section; the
    scheduler calls `apply()` every `check_interval_h` hours (or `check()` to only look).
    """

    def __init__(self, *, channel: str, state_dir: Path, install_root: Path,
                 url: str | None = None, running_version: str = __version__,
                 trusted_root: bytes | None = None, installer: Installer | None = None,
                 health_check: HealthCheck | None = None,
                 restart: Callable[[], None] | None = None,
                 platform: str | None = None) -> None:
        if channel not in CHANNELS:
            raise UpdateError(f"update.channel {channel!r} is not one of {', '.join(CHANNELS)}")
        self.channel = channel
        base = (url or DEFAULT_REPOSITORY_URL).rstrip("/") + "/"
        self.metadata_url = base + "metadata/"
        self.targets_url = base + "targets/"
        self.state_dir = Path(state_dir)
        self.metadata_dir = self.state_dir / "update" / "metadata"
        self.download_dir = self.state_dir / "update" / "targets"
        self.install_root = Path(install_root)
        self.running_version = running_version
        self._trusted_root = trusted_root
        self.platform = platform_key(platform)
        if installer is None:
            installer = MsiInstaller(self.state_dir) if self.platform == "windows" else VenvInstaller()
        self.installer = installer
        self.health_check: HealthCheck = health_check or (
            lambda env, version: version_probe(env, version))
        self.restart = restart
        self._tuf = None

    # --- checking -----------------------------------------------------------------

    def _client(self):
        from tuf.ngclient import Updater as TufUpdater

        self.metadata_dir.mkdir(parents=True, exist_ok=True)
        self.download_dir.mkdir(parents=True, exist_ok=True)
        root = self._trusted_root if self._trusted_root is not None else shipped_root()
        # The shipped root is the anchor; later roots the client verified are kept in
        # metadata_dir, and bootstrap only replaces them if the package root is newer.
        return TufUpdater(str(self.metadata_dir), self.metadata_url, str(self.download_dir),
                          self.targets_url, bootstrap=root)

    def _masked(self, exc: BaseException) -> str:
        """An error's text with any password of the repository URL masked (the URL may
        be repeated inside it)."""
        text, password = str(exc), url_password(self.metadata_url)
        return text.replace(password, "<secret>") if password else text

    def check(self) -> CheckResult:
        """Refresh the signed metadata once and read this channel's newest release."""
        if self.channel == "off":
            return CheckResult(self.channel, self.running_version, None, False)
        from tuf.api import exceptions as tuf_errors

        try:
            client = self._client()
            client.refresh()
            info = client.get_targetinfo(channel_target(self.channel))
            if info is None:
                raise UpdateError(f"the update repository at {redact_url(self.metadata_url)} has no "
                                  f"{channel_target(self.channel)}: is the channel published?")
            if info.length > _MAX_CHANNEL_DOC:
                raise UpdateError(f"{info.path} is {info.length} bytes; refusing to read it")
            doc_path = self._fetch(client, info)
        except tuf_errors.RepositoryError as exc:
            raise UpdateError(f"update repository {redact_url(self.metadata_url)} refused: "
                              f"{type(exc).__name__}: {self._masked(exc)}. Nothing was changed; if this "
                              "persists, the repository or the network path to it has been "
                              "tampered with or is stale") from exc
        except tuf_errors.DownloadError as exc:
            raise UpdateError(f"could not download from {redact_url(self.metadata_url)}: {self._masked(exc)}; "
                              "check update.url and the network") from exc
        self._tuf = client
        release = self._parse_channel_doc(doc_path)
        newer = compare_versions(release.version, self.running_version) > 0
        return CheckResult(self.channel, self.running_version, release, newer)

    def _parse_channel_doc(self, path: Path) -> Release:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            version = doc["version"]
            artifacts = doc["artifacts"].get(self.platform, [])
            if doc.get("channel") != self.channel:
                raise UpdateError(f"{path.name} is for channel {doc.get('channel')!r}, "
                                  f"not {self.channel!r}")
            _version_key(version)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise UpdateError(f"channel document {path.name} is malformed ({exc}); "
                              "the publisher must re-publish it") from exc
        return Release(self.channel, version, tuple(artifacts), doc.get("published"))

    def _fetch(self, client, info) -> Path:
        """A verified local copy of a target: reuse the cached file if it verifies,
        otherwise download (TUF checks length and hash before the file is written)."""
        dest = self.download_dir / info.path.replace("/", "__")
        if client.find_cached_target(info, str(dest)) is not None:
            return dest
        # A cached file that fails verification is not kept around.
        dest.unlink(missing_ok=True)
        part = dest.with_name(dest.name + ".part")
        try:
            client.download_target(info, str(part))
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        os.replace(part, dest)
        return dest

    # --- applying -----------------------------------------------------------------

    @property
    def current_link(self) -> Path:
        return self.install_root / CURRENT_LINK

    def current_version(self) -> str | None:
        try:
            return Path(os.readlink(self.current_link)).name
        except OSError:
            return None

    def apply(self) -> UpdateOutcome:
        """Check, and when a newer release exists install it beside the running one,
        switch, restart, health-check, and roll back on failure."""
        result = self.check()
        if not result.update_available or result.release is None:
            return UpdateOutcome(result, detail=result.describe())
        release = result.release
        tuf = self._tuf
        assert tuf is not None  # check() opened the channel to find the release
        from tuf.api import exceptions as tuf_errors

        files: list[Path] = []
        try:
            for target in release.artifacts:
                info = tuf.get_targetinfo(target)
                if info is None:
                    raise UpdateError(f"release {release.version} names {target}, which the "
                                      "signed targets metadata does not list")
                files.append(self._fetch(tuf, info))
        except tuf_errors.RepositoryError as exc:
            raise UpdateError(f"an artifact of release {release.version} failed "
                              f"verification ({type(exc).__name__}: {exc}); it was deleted "
                              "and nothing was installed") from exc
        except tuf_errors.DownloadError as exc:
            raise UpdateError(f"downloading release {release.version} failed: {exc}") from exc
        if not files:
            raise UpdateError(f"release {release.version} has no artifacts for {self.platform}")

        if self.platform == "windows":
            self.installer.install(release.version, files, self.install_root)
            return UpdateOutcome(result, installed_version=release.version,
                                 detail=f"installer for {release.version} ran")
        return self._install_side_by_side(result, release, files)

    def _install_side_by_side(self, result: CheckResult, release: Release,
                              files: list[Path]) -> UpdateOutcome:
        dest = self.install_root / release.version
        previous = self.current_version()
        if dest.exists():
            if previous == release.version:
                raise UpdateError(f"{dest} is already current")
            # Left over from an attempt that failed before switching.
            shutil.rmtree(dest)
        try:
            self.installer.install(release.version, files, dest)
            # Smoke check before the switch: a broken environment is never made current.
            self.health_check(dest, release.version)
        except BaseException as exc:
            shutil.rmtree(dest, ignore_errors=True)
            if isinstance(exc, UpdateError):
                raise UpdateError(f"new version {release.version} failed before the switch "
                                  f"and was removed; still running {previous}: {exc}") from exc
            raise

        switch_symlink(self.current_link, release.version)
        self._write_state(previous=previous, current=release.version)
        try:
            if self.restart is not None:
                self.restart()
            self.health_check(self.current_link, release.version)
        except UpdateError as exc:
            if previous is None:
                raise UpdateError(f"{release.version} is unhealthy and there is no previous "
                                  f"version to roll back to: {exc}") from exc
            self.rollback(to=previous)
            return UpdateOutcome(result, installed_version=None, rolled_back=True,
                                 detail=f"{release.version} failed its health check and was "
                                        f"rolled back to {previous}: {exc}")
        return UpdateOutcome(result, installed_version=release.version,
                             detail=f"switched from {previous} to {release.version}")

    def rollback(self, to: str | None = None) -> str:
        """Point `current` back at `to` (default: the version before the last switch)
        and restart. Returns the version now current."""
        if to is None:
            to = self._read_state().get("previous")
            if not to:
                raise UpdateError(f"no previous version recorded in {self._state_path}; "
                                  f"pick one of {self.installed_versions()}")
        if not (self.install_root / to).is_dir():
            raise UpdateError(f"{self.install_root / to} does not exist; installed: "
                              f"{self.installed_versions()}")
        failed = self.current_version()
        switch_symlink(self.current_link, to)
        self._write_state(previous=None, current=to, failed=failed)
        if self.restart is not None:
            self.restart()
        return to

    def installed_versions(self) -> list[str]:
        if not self.install_root.is_dir():
            return []
        found = []
        for p in self.install_root.iterdir():
            if p.is_dir() and not p.is_symlink() and _VERSION_RE.match(p.name):
                found.append(p.name)
        return sorted(found, key=_version_key)

    @property
    def _state_path(self) -> Path:
        return self.state_dir / "update" / STATE_FILE

    def _read_state(self) -> dict:
        try:
            return json.loads(self._state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def _write_state(self, **state: str | None) -> None:
        self._state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2), encoding="utf-8")
        os.replace(tmp, self._state_path)
