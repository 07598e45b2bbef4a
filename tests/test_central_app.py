"""How central's app is put together: its routers are an explicit list (a missing one stops
the service at import instead of removing its API in silence), its state is typed, and its
database refuses a schema newer than the code knows."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from support_central import CentralServer, Clock
from support_db import query, tables
from fastapi.routing import APIRoute

from asr_core.errors import StoreError
from asr_central.service import app as app_module
from asr_central.service.state import CentralState
from asr_central.storage import open_database

REPO = Path(__file__).resolve().parent.parent

# The routers central serves, in the order app.py lists them.
EXPECTED_EXTENSIONS = [
    "asr_central.service.api.registry", "asr_central.service.api.orders",
    "asr_central.service.api.alerts", "asr_central.service.api.agent_orders",
    "asr_central.service.retention", "asr_central.service.api.devices",
    "asr_central.service.api.device_moves", "asr_central.service.api.mail",
    "asr_central.service.api.ops",
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
    # one engine: the routes do not depend on it
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


def test_app_state_is_typed_and_a_misspelt_setting_fails(central_db_url: str) -> None:
    app = app_module.create_app(central_db_url)
    try:
        assert isinstance(app.state, CentralState)
        with pytest.raises(AttributeError):
            app.state.policy_min_intervall = 5  # type: ignore[attr-defined]
    finally:
        app.state.db.close()


def test_a_database_of_a_newer_schema_is_refused_and_left_as_it_was(
        central_db_url: str) -> None:
    open_database(central_db_url).close()
    query(central_db_url, "INSERT INTO schema_migrations (number, name, applied_at) "
          "VALUES (999, '999_from_the_future.sql', '2031-01-01T00:00:00Z')")
    before = tables(central_db_url)
    with pytest.raises(StoreError, match=r"schema version 999, newer than this central service"):
        open_database(central_db_url)
    assert tables(central_db_url) == before


def test_rows_written_as_plus_zero_by_older_versions_are_converted_to_z(
        central_db_url: str) -> None:
    url = central_db_url
    open_database(url).close()
    query(url, "INSERT INTO contacts (contact_id, name, email, updated_at) VALUES "
               "('c1', 'Claire', 'c@lyon.example', '2026-03-01T08:00:00.250000+00:00')")
    query(url, "INSERT INTO orders (site_id, contact_id, status, created_on, created_at) "
               "VALUES ('lyon', 'c1', 'open', '2026-03-01', '2026-03-01T08:00:00+00:00')")
    query(url, "UPDATE schema_migrations SET applied_at = '2026-01-01T00:00:00+00:00'")
    # the database as it was before the migration that converts the rows
    query(url, "DELETE FROM schema_migrations WHERE name = '060_timestamps_in_one_format.sql'")
    open_database(url).close()
    assert tuple(query(url, "SELECT updated_at FROM contacts")[0]) == (
        "2026-03-01T08:00:00.250000Z",)
    assert tuple(query(url, "SELECT created_on, created_at FROM orders")[0]) == (
        "2026-03-01", "2026-03-01T08:00:00Z")
    assert {r[0] for r in query(url, "SELECT applied_at FROM schema_migrations")
            if r[0].endswith("+00:00")} == set()


def test_the_registry_is_stamped_with_the_services_clock(central_db_url: str) -> None:
    moment = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)  # years from the wall clock
    server = CentralServer(central_db_url, clock=Clock(moment)).start()
    try:
        for path, body in [("/v1/registry/contacts/c1", {"name": "Claire",
                                                        "email": "c@lyon.example"}),
                           ("/v1/registry/sites/lyon", {"contact": "c1"}),
                           ("/v1/registry/devices/XRX-1", {"site": "lyon"}),
                           ("/v1/registry/catalog/106R03528", {"kind": "consumable"})]:
            r = server.admin("PUT", path, json=body)
            assert r.status_code == 200, r.text
        stamps = [r[0] for table in ("contacts", "sites", "registry_devices", "supply_catalog")
                  for r in server.query(f"SELECT updated_at FROM {table}")]
        assert stamps == ["2031-05-06T07:08:09Z"] * 4
    finally:
        server.stop()
