"""Secrets never shown: a password inside a URL (central, proxy, update channel) is masked
by `check-config`, on the status page and in /api/status.json, and redacted from logs;
every agent logger sits under the `asr` tree that logging set-up configures, so its lines
get the formatter, the redaction filter and the log file."""

from __future__ import annotations

import importlib
import logging
import pkgutil
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

import asr_agent
from asr_agent.adapters import keys as signing, uplink
from asr_agent.cli import main
from asr_agent.app.config import load_config
from asr_agent.app.daemon import _secret_values
from asr_core.errors import TransientUplinkError
from asr_agent.adapters.logs import setup_logging
from asr_agent.adapters.store import Store
from asr_agent.adapters.uplink import Uplink, UplinkSettings, queue_summary
from tests.agent_harness import agent_config, run_agent
from tests.conftest import free_port
from tests.support_central import make_summary

pytestmark = pytest.mark.trust  # issue 14's attacks: `scripts/test -m trust` runs them all

PASSWORDS = ("Url-Pass-0001", "Proxy-Pass-0002", "Update-Pass-0003")
CENTRAL = f"https://asr-user:{PASSWORDS[0]}@central.example:8443/asr"


def _config(tmp_path: Path, central_url: str = CENTRAL) -> Path:
    path = agent_config(tmp_path, [], central_url=central_url, extra={
        "central": {"proxy": f"http://proxy-user:{PASSWORDS[1]}@127.0.0.1:3128"},
        "update": {"url": f"https://updates:{PASSWORDS[2]}@updates.example/channel"}})
    return path


def test_check_config_masks_url_passwords(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "--config", str(_config(tmp_path))]) == 0
    out = capsys.readouterr().out
    for password in PASSWORDS:
        assert password not in out
    dumped = yaml.safe_load(out)
    assert dumped["central"]["url"] == "https://<secret>@central.example:8443/asr"
    assert dumped["central"]["proxy"] == "http://<secret>@127.0.0.1:3128"
    assert dumped["update"]["url"] == "https://<secret>@updates.example/channel"


def test_status_page_and_status_json_mask_the_central_url_password(tmp_path: Path) -> None:
    pages = run_agent(_config(tmp_path), lambda daemon: True)
    for path, response in pages.items():
        assert response.status_code == 200, path
        for password in PASSWORDS:
            assert password not in response.text, path
    assert pages["/api/status.json"].json()["uplink"]["central_url"] == "https://<secret>@central.example:8443/asr"
    assert "https://&lt;secret&gt;@central.example:8443/asr" in pages["/"].text


def test_every_agent_logger_is_under_the_configured_tree() -> None:
    modules = []
    for info in pkgutil.walk_packages(asr_agent.__path__, "asr_agent."):
        module = importlib.import_module(info.name)
        modules.append(info.name)
        for name, value in vars(module).items():
            if isinstance(value, logging.Logger):
                assert value.name == "asr" or value.name.startswith("asr."), (info.name, name, value.name)
    # Loggers got by a module's own name (getLogger(__name__)), at import or later.
    outside = [name for name, logger in logging.root.manager.loggerDict.items()
               if isinstance(logger, logging.Logger) and any(name == m or name.startswith(m + ".") for m in modules)]
    assert outside == []


def test_uplink_lines_reach_the_log_file_with_url_passwords_redacted(tmp_path: Path) -> None:
    closed = free_port(kind=socket.SOCK_STREAM)  # nothing listens: central is unreachable
    url = f"http://asr-user:{PASSWORDS[0]}@127.0.0.1:{closed}"
    cfg = load_config(_config(tmp_path, central_url=url))
    log_file = tmp_path / "agent.log"
    setup_logging(level="info", log_file=log_file, secrets=_secret_values(cfg))
    try:
        key = signing.load_or_create(tmp_path / "keys")
        with Store(tmp_path / "agent.sqlite3") as store, Uplink(
                UplinkSettings(url, trust_env=False, max_attempts=2, backoff_initial_s=0.01,
                               backoff_max_s=0.01), store) as up:
            start = datetime.now(UTC) - timedelta(days=1)
            queue_summary(store, make_summary("agt-1", store.next_sequence(), period_start=start), key)
            with pytest.raises(TransientUplinkError):
                up.drain()
        uplink.log.info("central is %s", url)  # an INFO line of the uplink's own logger
    finally:
        setup_logging(level="warning")
    text = log_file.read_text()
    assert "level=info logger=asr.uplink" in text
    assert "level=warning logger=asr.uplink" in text and "retrying" in text
    assert PASSWORDS[0] not in text and "<secret>" in text


def test_update_errors_mask_the_repository_url_password(tmp_path: Path) -> None:
    from asr_core.errors import UpdateError
    from asr_agent.adapters.updater import Updater

    closed = free_port(kind=socket.SOCK_STREAM)
    updater = Updater(channel="stable", url=f"http://updates:{PASSWORDS[2]}@127.0.0.1:{closed}/",
                      state_dir=tmp_path / "state", install_root=tmp_path / "install")
    with pytest.raises(UpdateError) as caught:
        updater.check()
    assert PASSWORDS[2] not in str(caught.value)
    assert f"http://<secret>@127.0.0.1:{closed}/metadata/" in str(caught.value)
