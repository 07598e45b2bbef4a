"""Typed records shared by agent and central, and by the agent's pure and I/O modules.

Printer-MIB enumerations keep their IANA numbers so that a raw SNMP value maps to a
member directly; `None` always means "the device did not tell us", never zero.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class SupplyType(enum.IntEnum):
    """IANA PrtMarkerSuppliesTypeTC (values 15 and up are RFC 3805 only)."""

    OTHER = 1
    UNKNOWN = 2
    TONER = 3
    WASTE_TONER = 4
    INK = 5
    INK_CARTRIDGE = 6
    INK_RIBBON = 7
    WASTE_INK = 8
    OPC = 9
    DEVELOPER = 10
    FUSER_OIL = 11
    SOLID_WAX = 12
    RIBBON_WAX = 13
    WASTE_WAX = 14
    FUSER = 15
    CORONA_WIRE = 16
    FUSER_OIL_WICK = 17
    CLEANER_UNIT = 18
    FUSER_CLEANING_PAD = 19
    TRANSFER_UNIT = 20
    TONER_CARTRIDGE = 21
    FUSER_OILER = 22
    WATER = 23
    WASTE_WATER = 24
    GLUE_WATER_ADDITIVE = 25
    WASTE_PAPER = 26
    BINDING_SUPPLY = 27
    BANDING_SUPPLY = 28
    STITCHING_WIRE = 29
    SHRINK_WRAP = 30
    PAPER_WRAP = 31
    STAPLES = 32
    INSERTS = 33
    COVERS = 34

    @property
    def wire_name(self) -> str:
        return self.name.lower()

    @property
    def is_waste(self) -> bool:
        return self in _WASTE_TYPES

    @property
    def is_marking_agent(self) -> bool:
        """Toner and ink: what ASR replenishes by weight."""
        return self in _MARKING_TYPES


_WASTE_TYPES = frozenset(
    {SupplyType.WASTE_TONER, SupplyType.WASTE_INK, SupplyType.WASTE_WAX,
     SupplyType.WASTE_PAPER, SupplyType.WASTE_WATER}
)
_MARKING_TYPES = frozenset(
    {SupplyType.TONER, SupplyType.TONER_CARTRIDGE, SupplyType.INK, SupplyType.INK_CARTRIDGE,
     SupplyType.SOLID_WAX}
)


class SupplyClass(enum.IntEnum):
    """IANA PrtMarkerSuppliesClassTC."""

    OTHER = 1
    CONSUMED = 3
    RECEPTACLE = 4

    @property
    def wire_name(self) -> str:
        return self.name.lower()


class SupplyUnit(enum.IntEnum):
    """IANA PrtMarkerSuppliesSupplyUnitTC (5, 6, 9 and 10 are unassigned)."""

    OTHER = 1
    UNKNOWN = 2
    TEN_THOUSANDTHS_OF_INCHES = 3
    MICROMETERS = 4
    IMPRESSIONS = 7
    SHEETS = 8
    HOURS = 11
    THOUSANDTHS_OF_OUNCES = 12
    TENTHS_OF_GRAMS = 13
    HUNDREDTHS_OF_FLUID_OUNCES = 14
    TENTHS_OF_MILLILITERS = 15
    FEET = 16
    METERS = 17
    ITEMS = 18
    PERCENT = 19

    @property
    def wire_name(self) -> str:
        return self.name.lower()


class LevelState(enum.Enum):
    """What prtMarkerSuppliesLevel says beyond a number.

    OK: a real amount (level is an int); SOME_REMAINING: -3; UNKNOWN: -2 or unusable;
    UNLIMITED: -1 ("other / no restriction").
    """

    OK = "ok"
    SOME_REMAINING = "some_remaining"
    UNKNOWN = "unknown"
    UNLIMITED = "unlimited"


@dataclass(frozen=True, slots=True)
class Supply:
    """One row of prtMarkerSuppliesTable, decoded.

    `level` and `max_capacity` are None unless the device gave a usable number;
    `raw_level` / `raw_capacity` keep what it actually sent (sentinels included).
    `remaining_percent` is the share left of what the supply can hold: fill left for a
    consumable, free space left for a receptacle, so 0 always means "replace now".
    """

    index: int
    description: str
    type: SupplyType
    supply_class: SupplyClass
    color: str | None
    unit: SupplyUnit | None
    max_capacity: int | None
    level: int | None
    remaining_percent: float | None
    level_state: LevelState
    part_number: str | None = None
    cartridge_serial: str | None = None
    raw_level: int | None = None
    raw_capacity: int | None = None
    level_clamped: bool = False
    class_inferred: bool = False


@dataclass(frozen=True, slots=True)
class Device:
    """A printer's identity as read over SNMP; the serial number is the key."""

    sys_object_id: str
    sys_descr: str
    serial: str | None
    vendor: str | None
    model: str | None
    asr_compatible: bool


@dataclass(frozen=True, slots=True)
class Reading:
    """Everything one poll learned about one printer at one instant."""

    host: str
    port: int
    taken_at: datetime
    device: Device
    supplies: tuple[Supply, ...]
    page_count: int | None = None
    printer_status: str | None = None  # hrPrinterStatus name: idle, printing, warmup, …
    device_status: str | None = None  # hrDeviceStatus name: running, warning, down, …
    error_state: frozenset[str] = field(default_factory=frozenset)  # hrPrinterDetectedErrorState bits
    warnings: tuple[str, ...] = ()  # parse problems worth logging against this device


@dataclass(frozen=True, slots=True)
class Sample:
    """One stored reading of one supply: the input of consumption and forecast."""

    taken_at: datetime
    level: int | None
    max_capacity: int | None
    unit: SupplyUnit | None
    level_state: LevelState
    remaining_percent: float | None
    cartridge_serial: str | None = None
    part_number: str | None = None
    page_count: int | None = None
