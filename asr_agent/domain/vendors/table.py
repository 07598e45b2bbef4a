"""The shape of one vendor's table: what ASR knows about a maker's printers, as data.

A quirk that depends on the vendor is a row here, not a branch in the parser: the
Printer-MIB parser asks the table where the model is, which part-number forms to look
for in a supply description, and which description words name which supply.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from asr_core.records import SupplyType

# Where a model name can be read: sysDescr.0, hrDeviceDescr.<printer>, prtGeneralPrinterName.<printer>.
Source = Literal["sys_descr", "hr_device_descr", "printer_name"]


@dataclass(frozen=True, slots=True)
class ModelRule:
    """The model is `pattern`'s `model` group in `source`, when it matches."""

    source: Source
    pattern: re.Pattern[str]


@dataclass(frozen=True, slots=True)
class PartColor:
    """A colour written into the part number itself (`TK-8527C`, `SJIC35P-BK`): the
    `code` group of `pattern`, looked up in `codes`."""

    pattern: re.Pattern[str]
    codes: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class VendorTable:
    name: str  # as ASR reports it (Device.vendor)
    enterprises: tuple[str, ...] = ()  # IANA numbers under 1.3.6.1.4.1
    object_id_prefixes: tuple[str, ...] = ()  # finer than an enterprise (a rebrand), checked first
    descr: re.Pattern[str] | None = None  # sysDescr words naming the vendor, without a sysObjectID
    models: tuple[ModelRule, ...] = ()  # tried in order
    model_trim: re.Pattern[str] | None = None  # firmware words after the model, dropped
    part_numbers: tuple[re.Pattern[str], ...] = ()  # each with a `pn` group
    part_color: PartColor | None = None
    words: tuple[tuple[re.Pattern[str], SupplyType], ...] = ()  # before the common words
    asr_compatible: bool = False
    notes: str = field(default="", compare=False)  # where the knowledge came from


def rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def rule(source: Source, pattern: str) -> ModelRule:
    return ModelRule(source, rx(pattern))


def words(*pairs: tuple[str, SupplyType]) -> tuple[tuple[re.Pattern[str], SupplyType], ...]:
    return tuple((rx(p), t) for p, t in pairs)


def parts(*patterns: str) -> tuple[re.Pattern[str], ...]:
    # Case-sensitive: part numbers are printed in capitals, and "t1234" in running text is not one.
    return tuple(re.compile(p) for p in patterns)
