"""The exception tree both programs raise, in one place, so callers never see library types.

    AsrError                      every error ASR raises on purpose
    ├── ConfigError               a config file is malformed (names file, line, key)
    ├── SnmpError                 an SNMP exchange failed (names host and OID)
    │   ├── SnmpTimeout           no answer: host down, asleep, or wrong v1/v2c community
    │   ├── SnmpAuthError         the device refused our v3 credentials
    │   ├── SnmpProtocolError     the device answered with an error status or garbage
    │   └── NotAPrinter           the device answers SNMP but has no Printer-MIB
    ├── StoreError                the local database cannot be opened or migrated
    ├── SigningError              a key cannot be loaded, or a signature does not verify
    ├── UplinkError               delivery to central failed
    │   ├── TransientUplinkError  worth retrying later (network, 5xx, 429)
    │   └── PermanentUplinkError  central refused the content; retrying will not help
    ├── UpdateError               the update channel refused or failed an update
    └── WireError                 a summary or envelope breaks the wire format or its
                                  ranges (names the field); also a ValueError

Every message says what was wrong, where, and what to do about it.
"""

from __future__ import annotations


class AsrError(Exception):
    """Base of every error the agent raises on purpose."""


class ConfigError(AsrError):
    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 key: str | None = None) -> None:
        self.path = path
        self.line = line
        self.key = key
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        if key is not None:
            where += f"{key}: "
        super().__init__(f"{where}{message}")


class SnmpError(AsrError):
    def __init__(self, message: str, *, host: str | None = None, oid: str | None = None) -> None:
        self.host = host
        self.oid = oid
        super().__init__(message)


class SnmpTimeout(SnmpError):
    pass


class SnmpAuthError(SnmpError):
    pass


class SnmpProtocolError(SnmpError):
    pass


class NotAPrinter(SnmpError):
    pass


class StoreError(AsrError):
    pass


class SigningError(AsrError):
    pass


class UplinkError(AsrError):
    pass


class TransientUplinkError(UplinkError):
    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class PermanentUplinkError(UplinkError):
    pass


class UpdateError(AsrError):
    pass


class WireError(AsrError, ValueError):
    """A payload does not follow the wire format (asr_core.wire) or its ranges
    (asr_core.wire_ranges); the message names the field."""
