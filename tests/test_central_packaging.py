"""Central as a Debian service: the systemd unit's checks (systemd-analyze verify and
security, W^X memory with central's whole stack), and the asr-central .deb built, installed
into a scratch root with dpkg, run, removed and purged.

No systemd runs as PID 1 here: `verify` and `security --offline` are the checks systemd
offers without a running manager. The .deb is built offline from the wheelhouse
test_packaging.py describes, which must also hold psycopg's wheels (the `postgres` extra).
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

UNIT = REPO / "packaging" / "linux" / "asr-central.service"
WHEELHOUSE = Path(os.environ.get("ASR_WHEELHOUSE") or REPO / ".tools" / "wheelhouse")
EXEC_START = "/opt/asr-central/current/bin/asr-central serve --config /etc/asr-central/config.yaml"


def _unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


def _verify_root(tmp_path: Path) -> Path:
    """A scratch root with systemd's own units (for the targets the unit names) and an
    executable ExecStart."""
    root = tmp_path / "root"
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    exe = root / "opt/asr-central/current/bin/asr-central"
    exe.parent.mkdir(parents=True)
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    return root


def _analyze_verify(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["systemd-analyze", "verify", f"--root={root}", "asr-central.service"],
                          capture_output=True, text=True)


# --- the unit -------------------------------------------------------------------------

def test_central_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    require_executable("systemd-analyze")
    require(Path("/usr/lib/systemd/system/sysinit.target").exists(), "systemd units absent")
    root = _verify_root(tmp_path)
    (root / "etc/systemd/system").mkdir(parents=True)
    shutil.copy2(UNIT, root / "etc/systemd/system/asr-central.service")
    proc = _analyze_verify(root)
    assert proc.returncode == 0 and proc.stderr.strip() == "", proc.stderr


def test_central_unit_exposure_score_is_at_most_2() -> None:
    require_executable("systemd-analyze")
    proc = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager",
                           str(UNIT)], capture_output=True, text=True)
    m = re.search(r"Overall exposure level for asr-central\.service: (\d+\.\d+)", proc.stdout)
    assert m, proc.stdout + proc.stderr
    assert float(m.group(1)) <= 2.0


def test_central_unit_runs_unprivileged_from_its_config_with_the_required_hardening() -> None:
    s = _unit_settings()
    expected = {
        "User": ["asr-central"], "DynamicUser": ["no"], "CapabilityBoundingSet": [""],
        "AmbientCapabilities": [""], "NoNewPrivileges": ["yes"], "ProtectSystem": ["strict"],
        "ProtectHome": ["yes"], "PrivateTmp": ["yes"], "PrivateDevices": ["yes"],
        "RestrictAddressFamilies": ["AF_INET AF_INET6 AF_UNIX"], "MemoryDenyWriteExecute": ["yes"],
        "SystemCallArchitectures": ["native"], "UMask": ["0077"], "Restart": ["on-failure"],
        "StateDirectory": ["asr-central"], "ConfigurationDirectory": ["asr-central"],
        "RuntimeDirectory": ["asr-central"], "WorkingDirectory": ["/var/lib/asr-central"],
        "Environment": ["PROMETHEUS_MULTIPROC_DIR=/run/asr-central"],
        "ExecStart": [EXEC_START],
    }
    for key, value in expected.items():
        assert s.get(key) == value, key
    assert "ReadWritePaths" not in s  # nothing but its state and runtime directories
    assert s["SystemCallFilter"][0] == "@system-service"


def test_every_central_unit_setting_is_explained_by_a_comment() -> None:
    block_has_comment = False
    for line in UNIT.read_text().splitlines():
        if line.startswith("#"):
            block_has_comment = True
        elif not line.strip() or line.startswith("["):
            block_has_comment = False
        else:
            assert block_has_comment, f"uncommented setting: {line}"


def test_central_stack_works_without_writable_executable_memory(tmp_path: Path) -> None:
    """MemoryDenyWriteExecute=yes, checked with the kernel's own W^X switch (PR_SET_MDWE,
    Linux 6.3+): central's native extensions load and work under it."""
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
import asyncio, uvloop, httptools, orjson, nacl.signing, psycopg, psycopg_pool
k = nacl.signing.SigningKey.generate(); k.verify_key.verify(k.sign(b"x"))
orjson.loads(orjson.dumps({"a": 1}))
httptools.HttpRequestParser(object())
uvloop.run(asyncio.sleep(0))
psycopg.pq.version()
from asr_central.service.app import create_app
create_app("sqlite:///" + sys.argv[1]).state.db.close()
print("ok")
"""
    libc = ctypes.CDLL(None, use_errno=True)
    require(hasattr(libc, "prctl"), "no prctl in libc")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "c.db")], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    require(proc.returncode != 77, "kernel lacks PR_SET_MDWE (Linux < 6.3)")
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def test_the_build_script_refuses_an_unknown_package() -> None:
    proc = subprocess.run([str(REPO / "packaging/linux/build-deb.sh"), "--package", "asr-other"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "unknown package asr-other" in proc.stderr


# --- the .deb -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_executable("dpkg-deb")
    require(Path("/usr/bin/python3").exists(), "/usr/bin/python3 absent")
    require(WHEELHOUSE.is_dir() and any(WHEELHOUSE.glob("psycopg_binary-*.whl")),
            f"no offline wheelhouse with psycopg at {WHEELHOUSE} (pip download -d "
            f"{WHEELHOUSE} '.[postgres]' setuptools wheel)")
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run([str(REPO / "packaging/linux/build-deb.sh"), "--package", "asr-central",
                           "--wheelhouse", str(WHEELHOUSE), "--out", str(out)],
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return Path(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_central_deb_holds_the_venv_with_postgres_the_unit_and_the_config(deb: Path) -> None:
    assert deb.name == "asr-central_0.1.0_" + subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True).stdout.strip() + ".deb"
    info = subprocess.run(["dpkg-deb", "--info", str(deb)], capture_output=True, text=True,
                          check=True).stdout
    assert "Package: asr-central" in info and re.search(r"Depends: python3\.\d+", info)
    contents = subprocess.run(["dpkg-deb", "--contents", str(deb)], capture_output=True,
                              text=True, check=True).stdout
    for path in ("./opt/asr-central/0.1.0/bin/asr-central", "./etc/asr-central/config.yaml",
                 "./usr/lib/systemd/system/asr-central.service",
                 "./usr/lib/sysusers.d/asr-central.conf", "./usr/lib/tmpfiles.d/asr-central.conf",
                 "site-packages/psycopg/__init__.py", "site-packages/psycopg_pool/__init__.py",
                 "site-packages/psycopg_binary/", "site-packages/asr_central/config.py"):
        assert path in contents, path
    control = subprocess.run(["dpkg-deb", "-I", str(deb), "conffiles"], capture_output=True,
                             text=True, check=True).stdout
    assert control.split() == ["/etc/asr-central/config.yaml"]


def _dpkg(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["dpkg", f"--root={root}", "--force-script-chrootless",
                           "--force-depends", *args], capture_output=True, text=True)


@pytest.mark.slow
def test_central_deb_installs_checks_its_config_serves_and_purges(deb: Path, tmp_path: Path) -> None:
    require_executable("dpkg")
    require(os.geteuid() == 0, "dpkg --root with ownership changes needs root")
    root = tmp_path / "root"
    (root / "var/lib/dpkg/info").mkdir(parents=True)
    (root / "var/lib/dpkg/updates").mkdir()
    (root / "var/lib/dpkg/status").touch()
    (root / "etc").mkdir()

    proc = _dpkg(root, "-i", str(deb))
    assert proc.returncode == 0, proc.stderr
    assert os.readlink(root / "opt/asr-central/current") == "0.1.0"
    passwd = (root / "etc/passwd").read_text()
    assert re.search(r"^asr-central:x:\d+:\d+:.*:/usr/sbin/nologin$", passwd, re.M)
    config = root / "etc/asr-central/config.yaml"
    assert config.stat().st_mode & 0o777 == 0o640
    assert config.read_text() == (REPO / "central.example.yaml").read_text()

    # The installed program, in a private mount namespace with the scratch /opt over /opt:
    # the config as installed is valid, and a central on it answers /readyz.
    script = (f"mount --bind {root}/opt /opt && cd {tmp_path} && "
              f"/opt/asr-central/current/bin/asr-central check-config --config {config} && "
              "/opt/asr-central/current/bin/python -c 'import psycopg_pool' && "
              "/opt/asr-central/current/bin/python -c \""
              "from asr_central.service.app import create_app; from starlette.testclient import "
              "TestClient; c = TestClient(create_app(\\\"sqlite:///c.db\\\")); "
              "print(c.get(\\\"/readyz\\\").json()[\\\"status\\\"])\"")
    run = subprocess.run(["unshare", "--mount", "sh", "-c", script], capture_output=True,
                         text=True, timeout=120)
    require(not ("unshare failed" in run.stderr or "mount:" in run.stderr),
            f"no mount namespaces here: {run.stderr.strip()}")
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(f"# effective settings of {config} (valid)")
    assert run.stdout.strip().splitlines()[-1] == "ready"

    if shutil.which("systemd-analyze"):
        shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system",
                        symlinks=True, dirs_exist_ok=True)
        verify = _analyze_verify(root)
        assert verify.returncode == 0 and verify.stderr.strip() == "", verify.stderr

    with config.open("a") as f:
        f.write("# edited by the admin\n")
    assert _dpkg(root, "-r", "asr-central").returncode == 0
    assert not (root / "opt/asr-central").exists()
    assert "edited by the admin" in config.read_text()
    assert _dpkg(root, "-P", "asr-central").returncode == 0
    assert not (root / "etc/asr-central").exists()
