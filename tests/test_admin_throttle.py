"""Admin token guessing against a real central: failed attempts are logged with the client
address and throttled per address (429 with Retry-After); another address is not held up."""

from __future__ import annotations

import logging

import httpx
import pytest
from support_central import ADMIN_TOKEN, CentralServer, central  # noqa: F401  (fixture)

from asr_central.service.api.admin_guard import FAILED_ATTEMPTS

pytestmark = pytest.mark.trust  # issue 14's attacks: `scripts/test -m trust` runs them all

PATH = "/v1/admin/agents"
ATTEMPTS = int(FAILED_ATTEMPTS.split("/")[0])


def _client(server: CentralServer, source: str) -> httpx.Client:
    """A client whose requests leave from `source` (any 127.0.0.0/8 address is loopback)."""
    return httpx.Client(base_url=server.url, trust_env=False, timeout=10,
                        transport=httpx.HTTPTransport(local_address=source))


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_guessing_from_one_address_is_throttled_and_logged_another_address_still_works(
        central: CentralServer, caplog: pytest.LogCaptureFixture) -> None:  # noqa: F811
    caplog.set_level(logging.WARNING, logger="asr_central.api")
    with _client(central, "127.0.0.1") as guesser:
        codes = [guesser.get(PATH, headers=_bearer(f"guess-{i}")).status_code
                 for i in range(ATTEMPTS)]
        assert codes == [401] * ATTEMPTS
        throttled = guesser.get(PATH, headers=_bearer("guess-last"))
        assert throttled.status_code == 429
        assert 1 <= int(throttled.headers["Retry-After"]) <= 60
        # The right token from the throttled address waits too: else guesses still answer.
        assert guesser.get(PATH, headers=_bearer(ADMIN_TOKEN)).status_code == 429
    failed = [r for r in caplog.records if r.levelno == logging.WARNING
              and "admin token wrong from 127.0.0.1" in r.getMessage()]
    assert len(failed) == ATTEMPTS
    assert any("throttled" in r.getMessage() and "127.0.0.1" in r.getMessage()
               for r in caplog.records)
    with _client(central, "127.0.0.2") as admin:
        ok = admin.get(PATH, headers=_bearer(ADMIN_TOKEN))
        assert ok.status_code == 200 and ok.json() == []
        assert admin.get(PATH).status_code == 401  # no token: counted, not yet throttled


def test_a_missing_token_counts_as_a_failed_attempt(central: CentralServer) -> None:  # noqa: F811
    with _client(central, "127.0.0.3") as c:
        assert [c.get(PATH).status_code for _ in range(ATTEMPTS + 1)][-2:] == [401, 429]
