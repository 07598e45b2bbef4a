"""The agent's SNMP layer: the only package that imports pysnmp.

Everything it returns is plain Python (int, bytes, dotted OID str); errors are
`asr_core.errors.SnmpError` subclasses.
"""

from asr_agent.adapters.snmp.client import (
    AUTH_PROTOCOLS,
    PRIV_PROTOCOLS,
    SnmpClient,
    SnmpCredential,
    VarBind,
)
from asr_agent.adapters.snmp.values import END_OF_MIB, Value

__all__ = [
    "AUTH_PROTOCOLS", "END_OF_MIB", "PRIV_PROTOCOLS", "SnmpClient", "SnmpCredential", "Value",
    "VarBind",
]
