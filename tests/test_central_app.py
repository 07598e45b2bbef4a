"""How central's app is put together: its routers are an explicit list (a missing one stops
the service at import instead of removing its API in silence), its state is typed, and its
database refuses a schema newer than the code knows."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from asr_core.errors import StoreError
from asr_central.service import app as app_module
from asr_central.service.state import CentralState
from asr_central.storage.sqlite.db import open_database

REPO = Path(__file__).resolve().parent.parent

# The routers central serves, in the order app.py lists them.
EXPECTED_EXTENSIONS = [
    "asr_central.service.api.registry", "asr_central.service.api.orders",
    "asr_central.service.api.alerts", "asr_central.service.api.agent_orders",
    "asr_central.service.retention", "asr_central.service.api.devices",
    "asr_central.service.api.device_moves",
]


def _routes(routes: list[object]) -> set[tuple[str, str]]:
    return {(r.path, m) for r in routes if isinstance(r, APIRoute) for m in r.methods}


def _served(app: FastAPI) -> set[tuple[str, str]]:
    """What the app answers, as its OpenAPI description lists it."""
    return {(path, method.upper()) for path, operations in app.openapi()["paths"].items()
            for method in operations}


def test_the_app_serves_exactly_its_own_routes_and_those_of_the_listed_routers(
        tmp_path: Path) -> None:
    assert [m.__name__ for m in app_module.EXTENSIONS] == EXPECTED_EXTENSIONS
    app = app_module.create_app(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        served = _served(app)
        listed = set().union(*(_routes(m.router.routes) for m in app_module.EXTENSIONS
                               if hasattr(m, "router")))
        own = {("/healthz", "GET"), ("/v1/enroll", "POST"), ("/v1/keys", "POST"),
               ("/v1/keys/retire", "POST"), ("/v1/summaries", "POST"),
               ("/v1/admin/enrollment-tokens", "POST"), ("/v1/admin/agents", "GET"),
               ("/v1/admin/agents/{agent_id}/revoke", "POST"),
               ("/v1/admin/keys/{key_id}/revoke", "POST")}
        assert ("/v1/orders", "GET") in listed  # the orders API comes from its router
        assert served == own | listed
    finally:
        app.state.db.close()


@pytest.mark.parametrize("missing", ["asr_central.service.api.orders",
                                     "asr_central.service.api.registry"])
def test_a_router_that_cannot_be_imported_stops_the_app_loudly(missing: str) -> None:
    # `None` in sys.modules is how Python itself marks a module as not importable.
    code = (f"import sys; sys.modules[{missing!r}] = None\n"
            "import asr_central.service.app\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=60, env={"PYTHONPATH": str(REPO)})
    assert done.returncode != 0, "the app imported without one of its routers"
    assert "ModuleNotFoundError" in done.stderr and missing in done.stderr


def test_app_state_is_typed_and_a_misspelt_setting_fails(tmp_path: Path) -> None:
    app = app_module.create_app(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        assert isinstance(app.state, CentralState)
        with pytest.raises(AttributeError):
            app.state.policy_min_intervall = 5  # type: ignore[attr-defined]
    finally:
        app.state.db.close()


def test_a_database_of_a_newer_schema_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "central.db"
    open_database(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_migrations (number, name, applied_at) "
                     "VALUES (999, '999_from_the_future.sql', '2031-01-01T00:00:00Z')")
        tables = conn.execute("SELECT name FROM sqlite_master ORDER BY name").fetchall()
    conn.close()
    with pytest.raises(StoreError, match=r"schema version 999, newer than this central service"):
        open_database(f"sqlite:///{path}")
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT name FROM sqlite_master ORDER BY name").fetchall() == tables
    conn.close()
