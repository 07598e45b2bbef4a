"""The console's router: each page module's routes, listed here (a missing one fails at
import)."""

from __future__ import annotations

from fastapi import APIRouter

from asr_central.service.console import (
    account, agents, fleet, mail, orders, registry, service,
)

router = APIRouter(include_in_schema=False)
for _module in (account, orders, fleet, agents, registry, mail, service):
    router.include_router(_module.router)
