"""Request body limits, in one place. FastAPI enforces them (`max_body_size`, Starlette's
body limit middleware): a declared Content-Length over the limit is refused 413 before a
byte of the body is read, a body without one is counted as it streams in and refused once
past the limit, before anything parses it. The ingest fast path applies `ingest.MAX_BODY`
the same way in its own reader."""

from __future__ import annotations

__all__ = ["JSON_BODY", "REGISTRY_BODY"]

# Every JSON endpoint but ingest: the largest control message (an enrollment, a signed key
# change or order-status request, a shipment with its cartridge serials) is under 4 KiB,
# so 64 KiB leaves a wide margin.
JSON_BODY = 64 * 1024
# A registry YAML import: 10,000 devices take about 600 KiB.
REGISTRY_BODY = 4 * 1024 * 1024
