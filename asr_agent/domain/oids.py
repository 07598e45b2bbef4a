"""Every numeric OID the agent reads, named after its MIB object in `mibs/`.

tests/test_mibs.py resolves each name in the MIB files and checks the number here.
Table columns are given without an instance suffix; scalars with their `.0`.
"""

from __future__ import annotations

from typing import Final

# SNMPv2-MIB (system group)
SYS_DESCR: Final = "1.3.6.1.2.1.1.1.0"  # sysDescr.0
SYS_OBJECT_ID: Final = "1.3.6.1.2.1.1.2.0"  # sysObjectID.0
SYS_NAME: Final = "1.3.6.1.2.1.1.5.0"  # sysName.0

# HOST-RESOURCES-MIB: hrDeviceTable and hrPrinterTable, indexed by hrDeviceIndex
HR_DEVICE_TYPE: Final = "1.3.6.1.2.1.25.3.2.1.2"  # hrDeviceType
HR_DEVICE_DESCR: Final = "1.3.6.1.2.1.25.3.2.1.3"  # hrDeviceDescr
HR_DEVICE_STATUS: Final = "1.3.6.1.2.1.25.3.2.1.5"  # hrDeviceStatus
HR_PRINTER_STATUS: Final = "1.3.6.1.2.1.25.3.5.1.1"  # hrPrinterStatus
HR_PRINTER_DETECTED_ERROR_STATE: Final = "1.3.6.1.2.1.25.3.5.1.2"  # hrPrinterDetectedErrorState
HR_DEVICE_PRINTER: Final = "1.3.6.1.2.1.25.3.1.5"  # hrDevicePrinter (a value of hrDeviceType)

# Printer-MIB (RFC 3805)
PRT_GENERAL_PRINTER_NAME: Final = "1.3.6.1.2.1.43.5.1.1.16"  # prtGeneralPrinterName.<hrDeviceIndex>
PRT_GENERAL_SERIAL_NUMBER: Final = "1.3.6.1.2.1.43.5.1.1.17"  # prtGeneralSerialNumber.<hrDeviceIndex>
PRT_MARKER_COUNTER_UNIT: Final = "1.3.6.1.2.1.43.10.2.1.3"  # prtMarkerCounterUnit
PRT_MARKER_LIFE_COUNT: Final = "1.3.6.1.2.1.43.10.2.1.4"  # prtMarkerLifeCount.<dev>.<marker>

PRT_MARKER_SUPPLIES_ENTRY: Final = "1.3.6.1.2.1.43.11.1.1"  # prtMarkerSuppliesEntry
PRT_MARKER_SUPPLIES_MARKER_INDEX: Final = "1.3.6.1.2.1.43.11.1.1.2"
PRT_MARKER_SUPPLIES_COLORANT_INDEX: Final = "1.3.6.1.2.1.43.11.1.1.3"
PRT_MARKER_SUPPLIES_CLASS: Final = "1.3.6.1.2.1.43.11.1.1.4"
PRT_MARKER_SUPPLIES_TYPE: Final = "1.3.6.1.2.1.43.11.1.1.5"
PRT_MARKER_SUPPLIES_DESCRIPTION: Final = "1.3.6.1.2.1.43.11.1.1.6"
PRT_MARKER_SUPPLIES_SUPPLY_UNIT: Final = "1.3.6.1.2.1.43.11.1.1.7"
PRT_MARKER_SUPPLIES_MAX_CAPACITY: Final = "1.3.6.1.2.1.43.11.1.1.8"
PRT_MARKER_SUPPLIES_LEVEL: Final = "1.3.6.1.2.1.43.11.1.1.9"

PRT_MARKER_COLORANT_ENTRY: Final = "1.3.6.1.2.1.43.12.1.1"  # prtMarkerColorantEntry
PRT_MARKER_COLORANT_VALUE: Final = "1.3.6.1.2.1.43.12.1.1.4"  # prtMarkerColorantValue

# Objects read in the single poll request, in request order.
SUPPLY_COLUMNS: Final = (
    PRT_MARKER_SUPPLIES_COLORANT_INDEX,
    PRT_MARKER_SUPPLIES_CLASS,
    PRT_MARKER_SUPPLIES_TYPE,
    PRT_MARKER_SUPPLIES_DESCRIPTION,
    PRT_MARKER_SUPPLIES_SUPPLY_UNIT,
    PRT_MARKER_SUPPLIES_MAX_CAPACITY,
    PRT_MARKER_SUPPLIES_LEVEL,
)
