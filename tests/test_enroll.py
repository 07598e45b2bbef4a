"""Enrollment, re-enrollment with key rotation, retirement and revocation, against a real
central server on loopback; the central's admin guard and its loopback-only default."""

from __future__ import annotations

import json
import textwrap
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from asr_agent.adapters import keys as signing
from asr_core.errors import PermanentUplinkError
from asr_agent.cli import main as agent_main
from asr_agent.adapters.store import Store
from asr_agent.adapters.uplink import (
    AgentIdentity, Uplink, UplinkSettings, build_client, queue_summary, register_next_key,
)
from asr_central.cli import main as central_main
from asr_central.commands.serve import is_loopback
from support_central import T0, CentralServer, central, make_summary  # noqa: F401


def write_config(tmp_path: Path, site: str = "site-1") -> Path:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(textwrap.dedent(f"""
        site:
          id: {site}
        store:
          data_dir: {tmp_path / 'data'}
        """))
    return cfg


@pytest.fixture
def agent_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ASR_DATA_DIR", str(tmp_path / "data"))
    return write_config(tmp_path)


def enroll_cli(central: CentralServer, config: Path, token: str, *extra: str) -> int:
    return agent_main(["enroll", "--central", central.url, "--token", token,
                       "--config", str(config), *extra])


def key_dir(config: Path) -> Path:
    return config.parent / "data" / "keys"


def test_enroll_registers_the_key_and_site(central: CentralServer, agent_env: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert enroll_cli(central, agent_env, central.create_token("site-1"), "--name", "lyon") == 0
    ident = AgentIdentity.load(key_dir(agent_env))
    assert ident is not None and ident.site_id == "site-1"
    agents = central.admin("GET", "/v1/admin/agents").json()
    assert [(a["agent_id"], a["site_id"], a["name"]) for a in agents] == [
        (ident.agent_id, "site-1", "lyon")]
    assert [k["key_id"] for k in agents[0]["keys"]] == [signing.load(key_dir(agent_env)).key_id]
    assert ident.agent_id in capsys.readouterr().out


def test_a_token_works_once(central: CentralServer, agent_env: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    token = central.create_token("site-1")
    assert enroll_cli(central, agent_env, token) == 0
    assert enroll_cli(central, agent_env, token) == 2
    assert "already used" in capsys.readouterr().err


def test_a_token_for_another_site_is_refused(central: CentralServer, agent_env: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert enroll_cli(central, agent_env, central.create_token("site-2")) == 2
    assert "this token is for site 'site-2'" in capsys.readouterr().err
    assert AgentIdentity.load(key_dir(agent_env)) is None


def test_unknown_token_is_refused(central: CentralServer, agent_env: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert enroll_cli(central, agent_env, "asr-enroll-made-up") == 2
    assert "token unknown" in capsys.readouterr().err


def test_reenrollment_rotates_and_queued_summaries_still_arrive(
        central: CentralServer, agent_env: Path) -> None:
    assert enroll_cli(central, agent_env, central.create_token("site-1")) == 0
    kd = key_dir(agent_env)
    old_key, ident = signing.load(kd), AgentIdentity.load(kd)
    assert ident is not None
    with Store.in_dir(agent_env.parent / "data") as st:
        queue_summary(st, make_summary(ident.agent_id, st.next_sequence()), old_key)
        assert enroll_cli(central, agent_env, central.create_token("site-1")) == 0
        new_key, ident2 = signing.load(kd), AgentIdentity.load(kd)
        assert ident2 is not None
        assert (ident2.agent_id, ident2.retiring_key_ids) == (ident.agent_id, (old_key.key_id,))
        assert new_key.key_id != old_key.key_id
        queue_summary(st, make_summary(ident.agent_id, st.next_sequence(),
                                       period_start=T0 + timedelta(hours=4)), new_key)
        settings = UplinkSettings(central_url=central.url, trust_env=False)
        with Uplink(settings, st) as up:
            assert up.drain().accepted == 2  # the old signature is still good
            ident3 = up.retire_drained_keys(ident2, new_key, kd)
        assert ident3.retiring_key_ids == ()
        # once retired, the old key is refused
        queue_summary(st, make_summary(ident.agent_id, st.next_sequence(),
                                       period_start=T0 + timedelta(hours=8)), old_key)
        with Uplink(settings, st) as up:
            assert up.drain().rejected == 1
        assert st.refused()[0].last_error.startswith("403 key_retired")  # type: ignore[union-attr]


def test_rotation_by_a_message_signed_with_the_current_key(central: CentralServer,
                                                           tmp_path: Path) -> None:
    kd = tmp_path / "keys"
    key = signing.load_or_create(kd)
    agent_id = central.enroll_key(key)
    current, new = signing.rotate(kd)
    with build_client(UplinkSettings(central_url=central.url, trust_env=False)) as client:
        register_next_key(client, current=current, new=new, agent_id=agent_id)
        stranger = signing.load_or_create(tmp_path / "stranger")
        with pytest.raises(PermanentUplinkError, match="401"):
            register_next_key(client, current=stranger, new=stranger, agent_id=agent_id)
    keys = central.admin("GET", "/v1/admin/agents").json()[0]["keys"]
    assert {k["key_id"] for k in keys} == {current.key_id, new.key_id}


def test_revoked_agent_is_refused_until_it_enrolls_anew(
        central: CentralServer, agent_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert enroll_cli(central, agent_env, central.create_token("site-1")) == 0
    kd = key_dir(agent_env)
    key, ident = signing.load(kd), AgentIdentity.load(kd)
    assert ident is not None
    r = central.admin("POST", f"/v1/admin/agents/{ident.agent_id}/revoke",
                      json={"reason": "laptop stolen"})
    assert r.status_code == 200
    with Store.in_dir(agent_env.parent / "data") as st:
        queue_summary(st, make_summary(ident.agent_id, st.next_sequence()), key)
        with Uplink(UplinkSettings(central_url=central.url, trust_env=False), st) as up:
            assert up.drain().rejected == 1
        assert st.refused()[0].last_error.startswith("403 agent_revoked")  # type: ignore[union-attr]
    assert enroll_cli(central, agent_env, central.create_token("site-1")) == 2
    assert "was revoked" in capsys.readouterr().err
    assert enroll_cli(central, agent_env, central.create_token("site-1"), "--new-identity") == 0
    fresh = AgentIdentity.load(kd)
    assert fresh is not None and fresh.agent_id != ident.agent_id
    assert signing.load(kd).key_id != key.key_id  # the revoked key does not come back


def test_admin_endpoints_need_the_admin_token(central: CentralServer) -> None:
    with httpx.Client(base_url=central.url, trust_env=False) as c:
        assert c.post("/v1/admin/enrollment-tokens", json={"site_id": "s"}).status_code == 401
        wrong = {"Authorization": "Bearer not-the-token"}
        assert c.get("/v1/admin/agents", headers=wrong).status_code == 401
        assert c.post("/v1/admin/agents/agt_x/revoke", headers=wrong).status_code == 401
    assert central.admin("POST", "/v1/admin/agents/agt_nobody/revoke").status_code == 404


def test_openapi_describes_the_agent_endpoints(central: CentralServer) -> None:
    with httpx.Client(base_url=central.url, trust_env=False) as c:
        paths = c.get("/openapi.json").json()["paths"]
    assert {"/v1/enroll", "/v1/summaries", "/v1/keys"} <= set(paths)


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("localhost", True),
    ("0.0.0.0", False), ("192.0.2.10", False), ("central.example", False),
])
def test_loopback_detection(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_serve_refuses_a_non_loopback_host_without_the_flag(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Validated before anything binds: no socket is opened on the address.
    code = central_main(["serve", "--db", f"sqlite:///{tmp_path / 'c.db'}", "--host", "0.0.0.0"])
    assert code == 2
    assert "not a loopback address" in capsys.readouterr().err
    assert not (tmp_path / "c.db").exists()


def test_enroll_names_an_unreachable_central(agent_env: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    from conftest import free_port

    port = free_port(__import__("socket").SOCK_STREAM)
    code = agent_main(["enroll", "--central", f"http://127.0.0.1:{port}", "--token", "t",
                       "--config", str(agent_env)])
    assert code == 2
    assert f"cannot reach central at http://127.0.0.1:{port}" in capsys.readouterr().err


def test_identity_file_is_owner_only(central: CentralServer, agent_env: Path) -> None:
    assert enroll_cli(central, agent_env, central.create_token("site-1")) == 0
    path = key_dir(agent_env) / "identity.json"
    assert path.stat().st_mode & 0o077 == 0
    assert set(json.loads(path.read_text())) == {"agent_id", "site_id", "central_url", "key_id",
                                                 "retiring_key_ids"}
