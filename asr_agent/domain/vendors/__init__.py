"""Vendor knowledge as data: which vendor made a device (sysObjectID, else sysDescr),
its model, and the supply quirks of its printers, one table per vendor in `tables`.
Pure; shared by the poller, the Printer-MIB parser and the discovery sweep."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from asr_agent.domain.vendors.table import Source, VendorTable
from asr_agent.domain.vendors.tables import TABLES

__all__ = ["TABLES", "VendorInfo", "VendorTable", "identify", "table_for"]

_BY_NAME = {t.name: t for t in TABLES}
_BY_ENTERPRISE = {e: t for t in TABLES for e in t.enterprises}
_BY_PREFIX = sorted(((p, t) for t in TABLES for p in t.object_id_prefixes), key=lambda pt: -len(pt[0]))


@dataclass(frozen=True, slots=True)
class VendorInfo:
    vendor: str | None
    model: str | None
    asr_compatible: bool


def table_for(vendor: str | None) -> VendorTable | None:
    return _BY_NAME.get(vendor) if vendor else None


@lru_cache(maxsize=1024)  # a printer says the same at every poll; the parser asks twice per reading
def identify(sys_object_id: str, sys_descr: str, *, hr_device_descr: str | None = None,
             printer_name: str | None = None) -> VendorInfo:
    """Vendor by sysObjectID prefix first, sysDescr second; the model where the vendor's
    table says it is."""
    table = _table(sys_object_id.lstrip("."), _plain(sys_descr))
    if table is None:
        return VendorInfo(vendor=None, model=None, asr_compatible=False)
    texts: dict[Source, str] = {"sys_descr": _plain(sys_descr), "hr_device_descr": _plain(hr_device_descr),
                                 "printer_name": _plain(printer_name)}
    return VendorInfo(vendor=table.name, model=_model(table, texts), asr_compatible=table.asr_compatible)


# The MIBs bound these texts at 255 characters (sysDescr); a longer one is cut there.
_MAX_TEXT = 255


def _plain(text: str | None) -> str:
    """One line with single spaces, at most _MAX_TEXT long: what a device sends is matched
    against the tables' patterns, and a hostile one's whitespace runs must not make that slow."""
    return re.sub(r"\s+", " ", (text or "")[:4 * _MAX_TEXT]).strip()[:_MAX_TEXT]


def _table(oid: str, descr: str) -> VendorTable | None:
    for prefix, table in _BY_PREFIX:
        if oid.startswith(prefix):
            return table
    if oid.startswith("1.3.6.1.4.1."):
        parts = oid.split(".")
        if len(parts) > 6 and parts[6] in _BY_ENTERPRISE:
            return _BY_ENTERPRISE[parts[6]]
    return next((t for t in TABLES if t.descr is not None and t.descr.search(descr)), None)


def _model(table: VendorTable, texts: dict[Source, str]) -> str | None:
    for rule in table.models:
        text = texts[rule.source]
        match = rule.pattern.search(text) if text else None
        if match is None:
            continue
        model = match.group("model").strip()
        if table.model_trim is not None:
            model = table.model_trim.sub("", model).strip()
        if model:
            return model
    return None
