"""The update channel end to end: a signed TUF repository written by our publishing tool,
served over real HTTP on loopback, consumed by the agent's updater.

The installer is injected: instead of pip-installing a real wheel (slow, needs the whole
dependency set) it writes a tiny `bin/asr-agent` script into the versioned directory, so
the switch, health checks and rollback run against real directories, symlinks and
processes. `VenvInstaller` itself is exercised by the .deb test in test_packaging.py.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import shutil
import stat
import subprocess
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType

import pytest
from tuf.api.metadata import Metadata, Root

from asr_core.errors import UpdateError
from asr_agent.adapters.updater import (
    MsiInstaller,
    Updater,
    compare_versions,
    shipped_root,
    switch_symlink,
    version_probe,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
RUNNING = "0.1.0"


def _load_publisher() -> ModuleType:
    path = REPO_ROOT / "packaging" / "update-repo" / "asr_update_repo.py"
    spec = importlib.util.spec_from_file_location("asr_update_repo", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pub = _load_publisher()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib name)
        pass


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A directory served over HTTP on 127.0.0.1; yields (directory, base URL)."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    thread.join()


class Publisher:
    """Keys + a repository directory, published into the served directory."""

    def __init__(self, workdir: Path, www: Path) -> None:
        self.repo = pub.Repository(workdir / "repo")
        self.signers = pub.generate_keys(workdir / "keys")
        self.www = www
        self.workdir = workdir
        pub.init_repo(self.repo, self.signers)
        self.sync()

    def root_bytes(self) -> bytes:
        return (self.repo.metadata_dir / "1.root.json").read_bytes()

    def release(self, version: str, payload: bytes | None = None, *, channel: str = "stable",
                now: datetime | None = None, lifetimes=pub.LIFETIMES) -> Path:
        wheel = self.workdir / f"asr-{version}-py3-none-any.whl"
        wheel.write_bytes(payload or f"wheel of asr {version}\n".encode())
        pub.publish(self.repo, self.signers, channel=channel, version=version,
                    artifacts={"linux": [wheel]}, now=now, lifetimes=lifetimes)
        self.sync()
        return wheel

    def sync(self) -> None:
        shutil.rmtree(self.www, ignore_errors=True)
        shutil.copytree(self.repo.dir, self.www)


@pytest.fixture
def publisher(tmp_path: Path, served: tuple[Path, str]) -> Publisher:
    return Publisher(tmp_path / "publisher", served[0])


def _write_agent_script(env: Path, version: str, *, selftest_ok: bool = True) -> None:
    """A stand-in for an installed agent: answers --version, and `selftest` as told."""
    exe = env / "bin" / "asr-agent"
    exe.parent.mkdir(parents=True)
    exe.write_text("#!/bin/sh\n"
                   f'if [ "$1" = --version ]; then echo "asr-agent {version}"; exit 0; fi\n'
                   f'if [ "$1" = selftest ]; then exit {0 if selftest_ok else 1}; fi\n'
                   "exit 64\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)


class ScriptInstaller:
    """Injected installer: records the verified files it got and writes a stand-in agent
    whose version is read from the verified wheel's bytes."""

    def __init__(self, *, selftest_ok: bool = True, claim_version: str | None = None) -> None:
        self.selftest_ok = selftest_ok
        self.claim_version = claim_version
        self.received: list[bytes] = []

    def install(self, version: str, files, dest: Path) -> None:
        self.received = [Path(f).read_bytes() for f in files]
        _write_agent_script(dest, self.claim_version or version, selftest_ok=self.selftest_ok)


def selftest_health_check(env: Path, version: str) -> None:
    """--version must name the version; once switched, `selftest` must pass too
    (stands in for the restarted service's /healthz)."""
    version_probe(env, version)
    if env.name == "current":
        proc = subprocess.run([str(env / "bin" / "asr-agent"), "selftest"])
        if proc.returncode != 0:
            raise UpdateError(f"{env} selftest failed with {proc.returncode}")


@pytest.fixture
def install_root(tmp_path: Path) -> Path:
    root = tmp_path / "opt" / "asr-agent"
    _write_agent_script(root / RUNNING, RUNNING)
    os.symlink(RUNNING, root / "current")
    return root


def make_updater(tmp_path: Path, url: str, install_root: Path, trusted_root: bytes, *,
                 installer: ScriptInstaller | None = None, channel: str = "stable",
                 restarts: list[str] | None = None) -> Updater:
    def restart() -> None:
        if restarts is not None:
            restarts.append(os.readlink(install_root / "current"))

    return Updater(channel=channel, url=url, state_dir=tmp_path / "state",
                   install_root=install_root, running_version=RUNNING,
                   trusted_root=trusted_root, installer=installer or ScriptInstaller(),
                   health_check=selftest_health_check, restart=restart)


def _untouched(install_root: Path) -> None:
    assert os.readlink(install_root / "current") == RUNNING
    assert sorted(p.name for p in install_root.iterdir()) == [RUNNING, "current"]


# --- the happy path -------------------------------------------------------------------

def test_new_release_is_found_downloaded_verified_and_switched_to(
        tmp_path, served, publisher, install_root):
    publisher.release("0.2.0", b"the 0.2.0 wheel")
    installer = ScriptInstaller()
    restarts: list[str] = []
    updater = make_updater(tmp_path, served[1], install_root, publisher.root_bytes(),
                           installer=installer, restarts=restarts)

    check = updater.check()
    assert check.update_available and check.release is not None
    assert check.release.version == "0.2.0"
    assert check.release.artifacts == ("wheels/asr-0.2.0-py3-none-any.whl",)

    outcome = updater.apply()
    assert outcome.installed_version == "0.2.0" and not outcome.rolled_back
    assert installer.received == [b"the 0.2.0 wheel"]
    assert os.readlink(install_root / "current") == "0.2.0"
    assert (install_root / RUNNING).is_dir()   # the old version stays for rollback
    assert restarts == ["0.2.0"]
    out = subprocess.run([str(install_root / "current" / "bin" / "asr-agent"), "--version"],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "asr-agent 0.2.0"


def test_up_to_date_channel_changes_nothing(tmp_path, served, publisher, install_root):
    publisher.release(RUNNING)
    updater = make_updater(tmp_path, served[1], install_root, publisher.root_bytes())
    outcome = updater.apply()
    assert not outcome.check.update_available
    assert outcome.installed_version is None
    _untouched(install_root)


def test_channel_off_contacts_nothing(tmp_path, install_root):
    # Port 9 on loopback (discard) has no HTTP server: any fetch would fail loudly.
    updater = make_updater(tmp_path, "http://127.0.0.1:9/", install_root, b"not used",
                           channel="off")
    result = updater.check()
    assert result.release is None and not result.update_available
    assert "off" in result.describe()
    assert not (tmp_path / "state").exists()


def test_beta_channel_reads_its_own_document(tmp_path, served, publisher, install_root):
    publisher.release("0.2.0")
    publisher.release("0.3.0b1", channel="beta")
    stable = make_updater(tmp_path / "s", served[1], install_root, publisher.root_bytes())
    beta = make_updater(tmp_path / "b", served[1], install_root, publisher.root_bytes(),
                        channel="beta")
    assert stable.check().release.version == "0.2.0"
    assert beta.check().release.version == "0.3.0b1"


# --- attacks refused, running version untouched ---------------------------------------

def test_tampered_target_is_refused_deleted_and_nothing_installed(
        tmp_path, served, publisher, install_root):
    wheel = publisher.release("0.2.0", b"genuine wheel bytes")
    # The mirror serves other bytes of the same length under the signed name.
    [served_wheel] = (served[0] / "targets" / "wheels").glob(f"*.{wheel.name}")
    served_wheel.write_bytes(b"evil!! wheel bytes!")
    installer = ScriptInstaller()
    updater = make_updater(tmp_path, served[1], install_root, publisher.root_bytes(),
                           installer=installer)

    with pytest.raises(UpdateError, match="LengthOrHashMismatchError"):
        updater.apply()
    assert installer.received == []
    _untouched(install_root)
    leftovers = [p.name for p in updater.download_dir.iterdir()]
    assert not any("whl" in name for name in leftovers), leftovers


def test_corrupted_cached_download_is_deleted_and_fetched_again(
        tmp_path, served, publisher, install_root):
    publisher.release("0.2.0", b"genuine wheel bytes")
    installer = ScriptInstaller()
    updater = make_updater(tmp_path, served[1], install_root, publisher.root_bytes(),
                           installer=installer)
    updater.download_dir.mkdir(parents=True)
    cached = updater.download_dir / "wheels__asr-0.2.0-py3-none-any.whl"
    cached.write_bytes(b"bit-rotted cache")
    updater.apply()
    assert installer.received == [b"genuine wheel bytes"]
    assert cached.read_bytes() == b"genuine wheel bytes"


def test_expired_timestamp_is_refused(tmp_path, served, publisher, install_root):
    # Published two days ago with a one-day timestamp: a frozen mirror replaying it.
    publisher.release("0.2.0", now=datetime.now(timezone.utc) - timedelta(days=2))
    updater = make_updater(tmp_path, served[1], install_root, publisher.root_bytes())
    with pytest.raises(UpdateError, match="ExpiredMetadataError"):
        updater.apply()
    _untouched(install_root)


def test_rolled_back_metadata_is_refused(tmp_path, served, publisher, install_root):
    publisher.release("0.1.5")
    old_repo = tmp_path / "old-repo"
    shutil.copytree(publisher.repo.dir, old_repo)
    publisher.release("0.1.6")
    updater = make_updater(tmp_path, served[1], install_root, publisher.root_bytes())
    assert updater.check().release.version == "0.1.6"
    # The client now trusts timestamp v3; the mirror goes back to the v2 publication.
    shutil.rmtree(served[0])
    shutil.copytree(old_repo, served[0])
    with pytest.raises(UpdateError, match="BadVersionNumberError"):
        updater.apply()
    _untouched(install_root)


def test_older_release_on_the_channel_is_not_installed(tmp_path, served, publisher, install_root):
    publisher.release("0.0.9")
    updater = make_updater(tmp_path, served[1], install_root, publisher.root_bytes())
    outcome = updater.apply()
    assert not outcome.check.update_available
    _untouched(install_root)


def test_repository_signed_by_unknown_root_key_is_refused(
        tmp_path, served, publisher, install_root):
    publisher.release("0.2.0")
    stranger = Publisher(tmp_path / "stranger", tmp_path / "stranger-www")
    updater = make_updater(tmp_path, served[1], install_root, stranger.root_bytes())
    with pytest.raises(UpdateError, match="UnsignedMetadataError"):
        updater.apply()
    _untouched(install_root)


# --- health checks and rollback -------------------------------------------------------

def test_unhealthy_new_version_is_rolled_back(tmp_path, served, publisher, install_root):
    publisher.release("0.2.0")
    restarts: list[str] = []
    updater = make_updater(tmp_path, served[1], install_root, publisher.root_bytes(),
                           installer=ScriptInstaller(selftest_ok=False), restarts=restarts)
    outcome = updater.apply()
    assert outcome.rolled_back and outcome.installed_version is None
    assert "rolled back to 0.1.0" in outcome.detail
    assert os.readlink(install_root / "current") == RUNNING
    # Restarted into the new version, then back into the old one.
    assert restarts == ["0.2.0", RUNNING]


def test_environment_reporting_the_wrong_version_is_never_switched_to(
        tmp_path, served, publisher, install_root):
    publisher.release("0.2.0")
    restarts: list[str] = []
    updater = make_updater(tmp_path, served[1], install_root, publisher.root_bytes(),
                           installer=ScriptInstaller(claim_version="0.1.9"), restarts=restarts)
    with pytest.raises(UpdateError, match="failed before the switch"):
        updater.apply()
    assert restarts == []
    _untouched(install_root)


def test_manual_rollback_returns_to_the_previous_version(tmp_path, served, publisher, install_root):
    publisher.release("0.2.0")
    updater = make_updater(tmp_path, served[1], install_root, publisher.root_bytes())
    updater.apply()
    assert updater.rollback() == RUNNING
    assert os.readlink(install_root / "current") == RUNNING
    assert updater.installed_versions() == [RUNNING, "0.2.0"]


# --- small pieces ---------------------------------------------------------------------

def test_switch_symlink_replaces_the_link_and_leaves_no_temporary(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    os.symlink("a", tmp_path / "current")
    switch_symlink(tmp_path / "current", "b")
    assert os.readlink(tmp_path / "current") == "b"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "current"]


@pytest.mark.parametrize(("a", "b", "expected"), [
    ("0.2.0", "0.1.0", 1), ("0.1.0", "0.1", 0), ("0.10.0", "0.9.9", 1),
    ("1.0.0rc1", "1.0.0", -1), ("1.0.0b2", "1.0.0a9", 1),
])
def test_versions_compare_numerically(a, b, expected):
    assert compare_versions(a, b) == expected


def test_malformed_version_is_an_update_error():
    with pytest.raises(UpdateError, match="not of the form"):
        compare_versions("latest", "0.1.0")


def test_unknown_channel_is_refused(tmp_path):
    with pytest.raises(UpdateError, match="nightly"):
        Updater(channel="nightly", state_dir=tmp_path, install_root=tmp_path)


def test_shipped_root_is_a_signed_root_with_ed25519_keys_for_every_role():
    md = Metadata[Root].from_bytes(shipped_root())
    root = md.signed
    assert root.consistent_snapshot
    for role in ("root", "targets", "snapshot", "timestamp"):
        keys = [root.get_key(k) for k in root.roles[role].keyids]
        assert keys and all(k.keytype == "ed25519" for k in keys)
    root.verify_delegate("root", md.signed_bytes, md.signatures)


def test_msi_installer_runs_msiexec_silently_with_a_log(tmp_path):
    argv = MsiInstaller(log_dir=tmp_path).command(tmp_path / "asr-agent-0.2.0-x64.msi", "0.2.0")
    assert argv[:5] == ["msiexec.exe", "/i", str(tmp_path / "asr-agent-0.2.0-x64.msi"),
                        "/qn", "/norestart"]
    assert argv[5:] == ["/l*v", str(tmp_path / "asr-agent-0.2.0-install.log")]


def test_publisher_refuses_to_change_a_released_file(tmp_path, publisher):
    publisher.release("0.2.0", b"first")
    with pytest.raises(SystemExit, match="different content"):
        publisher.release("0.2.0", b"second")


def test_channel_document_names_version_and_artifacts(publisher):
    publisher.release("0.2.0")
    targets = publisher.repo.targets().signed
    info = targets.targets["channels/asr-agent-stable.json"]
    [doc_file] = (publisher.repo.targets_dir / "channels").glob("*.asr-agent-stable.json")
    assert doc_file.name.startswith(info.hashes["sha256"])
    doc = json.loads(doc_file.read_text())
    assert doc["version"] == "0.2.0"
    assert doc["artifacts"] == {"linux": ["wheels/asr-0.2.0-py3-none-any.whl"]}
