"""Packaging: the systemd unit's checks (systemd-analyze verify and security, W^X memory
with the whole agent stack), the .deb built, installed into a scratch root with dpkg,
run, removed and purged, and the wheel installed with pipx.

No systemd runs as PID 1 here, so nothing is started as a service: `verify` and
`security --offline` are the checks systemd offers without a running manager.

The slow tests build offline from a wheelhouse of the runtime dependencies (plus setuptools
and wheel): $ASR_WHEELHOUSE, else .tools/wheelhouse, filled by
`pip download -d .tools/wheelhouse . setuptools wheel`.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, require, require_executable

UNIT = REPO / "packaging" / "linux" / "asr-agent.service"
WHEELHOUSE = Path(os.environ.get("ASR_WHEELHOUSE") or REPO / ".tools" / "wheelhouse")


def _unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


def _verify_root(tmp_path: Path) -> Path:
    """A scratch root holding what `verify` checks the unit against: systemd's own units
    (for the targets it names), /bin/kill (ExecReload) and an executable ExecStart."""
    root = tmp_path / "root"
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    (root / "bin").mkdir(parents=True)
    shutil.copy2(shutil.which("kill") or "/bin/kill", root / "bin/kill")
    exe = root / "opt/asr-agent/current/bin/asr-agent"
    exe.parent.mkdir(parents=True)
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    return root


def _analyze_verify(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["systemd-analyze", "verify", f"--root={root}", "asr-agent.service"],
                          capture_output=True, text=True)


# --- the unit -------------------------------------------------------------------------

def test_unit_passes_systemd_analyze_verify(tmp_path):
    require_executable("systemd-analyze")
    require(Path("/usr/lib/systemd/system/sysinit.target").exists(), "systemd units absent")
    root = _verify_root(tmp_path)
    (root / "etc/systemd/system").mkdir(parents=True)
    shutil.copy2(UNIT, root / "etc/systemd/system/asr-agent.service")
    proc = _analyze_verify(root)
    # verify reports unknown keys and bad values as warnings on stderr with exit 0.
    assert proc.returncode == 0 and proc.stderr.strip() == "", proc.stderr


def test_verify_catches_a_misspelt_setting(tmp_path):
    require_executable("systemd-analyze")
    require(Path("/usr/lib/systemd/system/sysinit.target").exists(), "systemd units absent")
    root = _verify_root(tmp_path)
    (root / "etc/systemd/system").mkdir(parents=True)
    (root / "etc/systemd/system/asr-agent.service").write_text(
        UNIT.read_text().replace("ProtectHome=yes", "ProtectHomes=yes"))
    assert "Unknown key 'ProtectHomes'" in _analyze_verify(root).stderr


def test_unit_exposure_score_is_at_most_2(tmp_path):
    require_executable("systemd-analyze")
    proc = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager",
                           str(UNIT)], capture_output=True, text=True)
    m = re.search(r"Overall exposure level for asr-agent\.service: (\d+\.\d+)", proc.stdout)
    assert m, proc.stdout + proc.stderr
    assert float(m.group(1)) <= 2.0


def test_unit_runs_unprivileged_with_the_required_hardening():
    s = _unit_settings()
    expected = {
        "User": ["asr-agent"], "DynamicUser": ["no"], "CapabilityBoundingSet": [""],
        "AmbientCapabilities": [""], "NoNewPrivileges": ["yes"], "ProtectSystem": ["strict"],
        "ProtectHome": ["yes"], "PrivateTmp": ["yes"], "PrivateDevices": ["yes"],
        "RestrictAddressFamilies": ["AF_INET AF_INET6 AF_UNIX"], "MemoryDenyWriteExecute": ["yes"],
        "SystemCallArchitectures": ["native"], "UMask": ["0077"], "Type": ["notify"],
        "StateDirectory": ["asr-agent"], "LogsDirectory": ["asr-agent"],
        "ConfigurationDirectory": ["asr-agent"], "Restart": ["on-failure"],
        "ExecReload": ["/bin/kill -HUP $MAINPID"],
        "ExecStart": ["/opt/asr-agent/current/bin/asr-agent run --config /etc/asr-agent/config.yaml"],
    }
    for key, value in expected.items():
        assert s.get(key) == value, key
    assert s["SystemCallFilter"][0] == "@system-service"


def test_every_unit_setting_is_explained_by_a_comment():
    # Each block of settings is preceded by a comment saying why.
    block_has_comment = False
    for line in UNIT.read_text().splitlines():
        if line.startswith("#"):
            block_has_comment = True
        elif not line.strip() or line.startswith("["):
            block_has_comment = False
        else:
            assert block_has_comment, f"uncommented setting: {line}"


def test_agent_stack_works_without_writable_executable_memory():
    """MemoryDenyWriteExecute=yes, checked with the kernel's own W^X switch (PR_SET_MDWE,
    Linux 6.3+), which refuses the same mappings systemd's seccomp filter does."""
    libc = ctypes.CDLL(None, use_errno=True)
    code = r"""
import ctypes, mmap, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:          # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN
    sys.exit(77)
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    sys.exit("W+X mapping was allowed: the switch is not in force")
except OSError:
    pass
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
k = Ed25519PrivateKey.generate(); k.public_key().verify(k.sign(b"x"), b"x")
import ssl; ssl.create_default_context()
import sqlite3; sqlite3.connect(":memory:").execute("select 1")
import pydantic, yaml, httpx, uvicorn, starlette, fastapi, prometheus_client, apscheduler
import tuf.ngclient
from pysnmp.hlapi.v3arch.asyncio import SnmpEngine
SnmpEngine().close_dispatcher()
import asr_agent.cli
print("ok")
"""
    require(hasattr(libc, "prctl"), "no prctl in libc")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    require(proc.returncode != 77, "kernel lacks PR_SET_MDWE (Linux < 6.3)")
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


# --- the .deb -------------------------------------------------------------------------

def _wheelhouse() -> Path:
    require(WHEELHOUSE.is_dir() and any(WHEELHOUSE.glob("setuptools-*.whl")),
            f"no offline wheelhouse at {WHEELHOUSE} (pip download -d {WHEELHOUSE} . setuptools wheel)")
    return WHEELHOUSE


@pytest.fixture(scope="module")
def deb(tmp_path_factory) -> Path:
    require_executable("dpkg-deb")
    require(Path("/usr/bin/python3").exists(), "/usr/bin/python3 absent")
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run([str(REPO / "packaging/linux/build-deb.sh"), "--wheelhouse",
                           str(_wheelhouse()), "--out", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return Path(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_deb_declares_conffile_scripts_and_python(deb):
    info = subprocess.run(["dpkg-deb", "--info", str(deb)], capture_output=True, text=True,
                          check=True).stdout
    assert "Package: asr-agent" in info
    assert re.search(r"Depends: python3\.\d+", info)
    for script in ("postinst", "prerm", "postrm", "conffiles"):
        assert script in info
    conffiles = subprocess.run(["dpkg-deb", "--ctrl-tarfile", str(deb)], capture_output=True,
                               check=True).stdout
    assert b"./conffiles" in conffiles


@pytest.mark.slow
def test_deb_contains_the_venv_unit_and_snippets(deb):
    contents = subprocess.run(["dpkg-deb", "--contents", str(deb)], capture_output=True,
                              text=True, check=True).stdout
    for path in ("./opt/asr-agent/0.1.0/bin/asr-agent", "./opt/asr-agent/0.1.0/pyvenv.cfg",
                 "./usr/lib/systemd/system/asr-agent.service",
                 "./usr/lib/sysusers.d/asr-agent.conf", "./usr/lib/tmpfiles.d/asr-agent.conf",
                 "./etc/asr-agent/config.yaml"):
        assert path in contents, path
    assert "site-packages/asr_agent/adapters/updater.py" in contents
    assert "site-packages/asr_core/wire.py" in contents
    assert "site-packages/asr_dev/" not in contents


def _dpkg(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Chrootless with DPKG_ROOT: the maintainer scripts prefix every path with the root.
    return subprocess.run(["dpkg", f"--root={root}", "--force-script-chrootless",
                           "--force-depends", *args], capture_output=True, text=True)


@pytest.mark.slow
def test_deb_installs_into_a_scratch_root_runs_and_purges(deb, tmp_path):
    require_executable("dpkg")
    require(os.geteuid() == 0, "dpkg --root with ownership changes needs root")
    root = tmp_path / "root"
    (root / "var/lib/dpkg/info").mkdir(parents=True)
    (root / "var/lib/dpkg/updates").mkdir()
    (root / "var/lib/dpkg/status").touch()
    (root / "etc").mkdir()

    proc = _dpkg(root, "-i", str(deb))
    assert proc.returncode == 0, proc.stderr
    assert os.readlink(root / "opt/asr-agent/current") == "0.1.0"
    passwd = (root / "etc/passwd").read_text()
    assert re.search(r"^asr-agent:x:\d+:\d+:.*:/usr/sbin/nologin$", passwd, re.M)
    assert (root / "etc/asr-agent/config.yaml").stat().st_mode & 0o777 == 0o640
    # The agent may add versions beside the dpkg one, never change the dpkg one.
    uid = int(re.search(r"^asr-agent:x:(\d+):", passwd, re.M).group(1))
    assert (root / "opt/asr-agent").stat().st_uid == uid
    assert (root / "opt/asr-agent/0.1.0").stat().st_uid == 0

    # The venv's scripts name /opt/asr-agent/...: run them there, in a private mount
    # namespace where the scratch root's /opt is bind-mounted over /opt.
    run = subprocess.run(
        ["unshare", "--mount", "sh", "-c",
         f"mount --bind {root}/opt /opt && /opt/asr-agent/current/bin/asr-agent --version"
         " && /opt/asr-agent/current/bin/asr-central --version"],
        capture_output=True, text=True)
    require(not ("unshare failed" in run.stderr or "mount:" in run.stderr),
            f"no mount namespaces here: {run.stderr.strip()}")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0] == "asr-agent 0.1.0"

    # The unit as installed, against the real ExecStart.
    if shutil.which("systemd-analyze"):
        shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system",
                        symlinks=True, dirs_exist_ok=True)
        (root / "bin").mkdir(exist_ok=True)
        shutil.copy2(shutil.which("kill") or "/bin/kill", root / "bin/kill")
        verify = _analyze_verify(root)
        assert verify.returncode == 0 and verify.stderr.strip() == "", verify.stderr

    # remove keeps the (edited) config, purge deletes it.
    with (root / "etc/asr-agent/config.yaml").open("a") as f:
        f.write("# edited by the admin\n")
    assert _dpkg(root, "-r", "asr-agent").returncode == 0
    assert not (root / "opt/asr-agent").exists()
    assert "edited by the admin" in (root / "etc/asr-agent/config.yaml").read_text()
    assert _dpkg(root, "-P", "asr-agent").returncode == 0
    assert not (root / "etc/asr-agent").exists()


# --- the wheel, installed as pipx does ------------------------------------------------

@pytest.mark.slow
def test_pipx_install_of_the_wheel_gives_working_commands(tmp_path):
    """The real pipx, offline: the wheel and its dependencies from the wheelhouse."""
    wheelhouse = _wheelhouse()
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-index",
                    "--find-links", str(wheelhouse), str(REPO), "-w", str(tmp_path / "w")],
                   check=True, capture_output=True)
    [wheel] = (tmp_path / "w").glob("asr-*.whl")
    import zipfile

    names = set(zipfile.ZipFile(wheel).namelist())
    for path in ("asr_core/wire.py", "asr_core/data/summary.schema.json",
                 "asr_agent/adapters/migrations/001_initial.sql",
                 "asr_agent/app/status/templates/base.html",
                 "asr_agent/app/service/systemd/asr-agent.service",
                 "asr_agent/data/supply_catalog.yaml", "asr_agent/data/update-root.json",
                 "asr_central/storage/migrations/001_agents_and_summaries.sql"):
        assert path in names, path
    assert not [n for n in names if n.startswith("asr_dev/")], "the development package is not shipped"
    env = dict(os.environ, PIPX_HOME=str(tmp_path / "pipx"), PIPX_BIN_DIR=str(tmp_path / "bin"),
               PIPX_MAN_DIR=str(tmp_path / "man"))
    pipx = subprocess.run([sys.executable, "-m", "pipx", "install", str(wheel),
                           f"--pip-args=--no-index --find-links {wheelhouse}"],
                          capture_output=True, text=True, env=env)
    assert pipx.returncode == 0, f"refresh the wheelhouse if a dependency is missing: {pipx.stderr}"
    for cmd in ("asr-agent", "asr-central"):
        out = subprocess.run([str(tmp_path / "bin" / cmd), "--version"], capture_output=True,
                             text=True, check=True).stdout
        assert out.split()[0] == cmd and out.split()[1] == "0.1.0"
    help_text = subprocess.run([str(tmp_path / "bin/asr-agent"), "--help"], capture_output=True,
                               text=True, check=True).stdout
    assert "service" in help_text and "update" in help_text
    demo = subprocess.run([str(tmp_path / "bin/asr-agent"), "demo", "--minutes", "0.01"],
                          capture_output=True, text=True)
    assert demo.returncode == 2 and "source checkout" in demo.stderr


# --- the Windows installer source (cannot be built here; its required facts) ----------

def test_msi_source_states_upgrade_service_account_config_and_properties():
    import xml.etree.ElementTree as ET

    ns = {"w": "http://wixtoolset.org/schemas/v4/wxs"}
    tree = ET.parse(REPO / "packaging/windows/asr-agent.wxs")
    package = tree.getroot().find("w:Package", ns)
    assert package.get("UpgradeCode") == "0FC255E9-F429-4DA8-9BCE-1BD910CF38AC"
    assert package.find("w:MajorUpgrade", ns).get("DowngradeErrorMessage")
    service = tree.find(".//w:ServiceInstall", ns)
    assert service.get("Account") == r"NT SERVICE\asr-agent"
    assert service.get("Arguments") == "service _windows-service"
    config = tree.find(".//w:Component[@Id='AgentConfig']", ns)
    assert config.get("Permanent") == "yes" and config.get("NeverOverwrite") == "yes"
    props = {p.get("Id"): p for p in package.findall("w:Property", ns)}
    assert {"CENTRAL_URL", "ENROLL_TOKEN"} <= props.keys()
    assert props["ENROLL_TOKEN"].get("Hidden") == "yes"
    data = tree.find(".//w:StandardDirectory[@Id='CommonAppDataFolder']", ns)
    assert data is not None  # config under %ProgramData%
