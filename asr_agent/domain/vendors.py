"""Which vendor made a device, from sysObjectID and sysDescr, and whether ASR can
replenish it. Pure; shared by the poller and the discovery sweep."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Enterprise numbers under 1.3.6.1.4.1 (IANA), with the vendor name ASR reports.
_ENTERPRISES = {
    "253": "xerox", "297": "fujixerox", "11": "hp", "2435": "brother", "1602": "canon",
    "1248": "epson", "674": "dell", "641": "lexmark", "18334": "konica_minolta",
    "2001": "oki", "367": "ricoh", "236": "samsung", "2385": "sharp", "1347": "kyocera",
}
# Fuji Xerox rebranded as FUJIFILM Business Innovation in 2021 (sysObjectID 297.1.11.93.2).
_FUJIFILM_PREFIX = "1.3.6.1.4.1.297.1.11.93.2."
_ASR_VENDORS = frozenset({"xerox", "fujixerox", "fujifilm"})

_MODEL_PATTERNS = (
    re.compile(r"^Xerox(?:\(R\))?\s+(?P<model>[^;]+)", re.IGNORECASE),
    re.compile(r"^FUJI\s*XEROX\s+(?P<model>[^;]+?)(?:;|$)", re.IGNORECASE),
    re.compile(r"^FUJIFILM\s+(?P<model>[^;]+)", re.IGNORECASE),
)
_DESCR_VENDORS = (
    ("fujifilm", re.compile(r"^FUJIFILM\b", re.IGNORECASE)),
    ("fujixerox", re.compile(r"^FUJI\s*XEROX\b", re.IGNORECASE)),
    ("xerox", re.compile(r"^Xerox\b", re.IGNORECASE)),
)


@dataclass(frozen=True, slots=True)
class VendorInfo:
    vendor: str | None
    model: str | None
    asr_compatible: bool


def identify(sys_object_id: str, sys_descr: str) -> VendorInfo:
    """Vendor and model by sysObjectID prefix first, sysDescr second."""
    oid = sys_object_id.lstrip(".")
    vendor: str | None = None
    if oid.startswith(_FUJIFILM_PREFIX):
        vendor = "fujifilm"
    elif oid.startswith("1.3.6.1.4.1."):
        vendor = _ENTERPRISES.get(oid.split(".")[6])
    descr = sys_descr.strip()
    if vendor is None:
        vendor = next((name for name, rx in _DESCR_VENDORS if rx.search(descr)), None)
    model = None
    for rx in _MODEL_PATTERNS:
        match = rx.search(descr)
        if match:
            model = match.group("model").strip()
            model = re.sub(r"\s+(?:ESS|System|SS)\b.*$", "", model).strip() or None
            break
    return VendorInfo(vendor=vendor, model=model, asr_compatible=vendor in _ASR_VENDORS)
