"""Async SNMP GET / GETNEXT / GETBULK for v1, v2c and v3 over one shared set of sockets.

pysnmp's types and errors stop here: callers get plain values and `SnmpError`s.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from asr_core.errors import ConfigError, SnmpAuthError, SnmpError, SnmpProtocolError, SnmpTimeout
from asr_core.secret import Secret
from asr_agent.adapters.snmp.values import END_OF_MIB, Value, plain

AUTH_PROTOCOLS: Final = ("SHA", "SHA224", "SHA256", "SHA384", "SHA512", "MD5")
PRIV_PROTOCOLS: Final = ("AES", "AES192", "AES256", "DES")
VERSIONS: Final = ("1", "2c", "3")


VarBind = tuple[str, Value]


@dataclass(frozen=True, slots=True)
class SnmpCredential:
    """How to talk to one device: a v1/v2c community, or a v3 USM user (authPriv)."""

    version: str = "2c"
    community: Secret | None = None
    user: str | None = None
    auth_key: Secret | None = None
    priv_key: Secret | None = None
    auth_protocol: str = "SHA"
    priv_protocol: str = "AES"
    context_name: str = ""

    def __post_init__(self) -> None:
        if self.version not in VERSIONS:
            raise ConfigError(f"SNMP version must be one of {', '.join(VERSIONS)}, not {self.version!r}",
                              key="version")
        if self.version in ("1", "2c") and self.community is None:
            raise ConfigError(f"SNMPv{self.version} needs a community", key="community")
        if self.version == "3":
            if not self.user:
                raise ConfigError("SNMPv3 needs a user name", key="user")
            if self.priv_key is not None and self.auth_key is None:
                raise ConfigError("SNMPv3 privacy needs an auth key as well", key="auth_key")
        if self.auth_protocol not in AUTH_PROTOCOLS:
            raise ConfigError(f"auth protocol must be one of {', '.join(AUTH_PROTOCOLS)}, "
                              f"not {self.auth_protocol!r}", key="auth_protocol")
        if self.priv_protocol not in PRIV_PROTOCOLS:
            raise ConfigError(f"privacy protocol must be one of {', '.join(PRIV_PROTOCOLS)}, "
                              f"not {self.priv_protocol!r}", key="priv_protocol")

    @classmethod
    def v1(cls, community: str | Secret) -> SnmpCredential:
        return cls(version="1", community=_secret(community))

    @classmethod
    def v2c(cls, community: str | Secret) -> SnmpCredential:
        return cls(version="2c", community=_secret(community))

    @classmethod
    def v3(cls, user: str, auth_key: str | Secret | None = None, priv_key: str | Secret | None = None,
           *, auth_protocol: str = "SHA", priv_protocol: str = "AES",
           context_name: str = "") -> SnmpCredential:
        return cls(version="3", user=user,
                   auth_key=None if auth_key is None else _secret(auth_key),
                   priv_key=None if priv_key is None else _secret(priv_key),
                   auth_protocol=auth_protocol, priv_protocol=priv_protocol,
                   context_name=context_name)

    def describe(self) -> str:
        """Which credential, without its secret parts (for error messages)."""
        if self.version == "3":
            context = f", context {self.context_name!r}" if self.context_name else ""
            return f"SNMPv3 user {self.user!r}{context}"
        return f"SNMPv{self.version} community"


def _secret(value: str | Secret) -> Secret:
    return value if isinstance(value, Secret) else Secret(value)


def _where(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


_NOT_PER_VARBIND: Any = object()  # noSuchName is an error for the whole request


class RequestTimedOut:
    """No answer after every retry (named like pysnmp's indication, see _map_indication)."""

    def __str__(self) -> str:
        return "no SNMP response received before timeout"


_TIMED_OUT: Final = RequestTimedOut()


def _is_ipv6(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).version == 6
    except ValueError:
        return False


def _bad_address(host: str, port: int, exc: Exception) -> SnmpError:
    return SnmpError(f"{_where(host, port)}: cannot use this address ({exc}); "
                     "check the host name or IP", host=host)


async def _resolve(host: str, port: int) -> tuple[str, int]:
    """The IP address to send to: a literal as is (no resolver round trip per request),
    a name through the resolver (IPv4, as pysnmp's UDP target did)."""
    try:
        return str(ipaddress.ip_address(host)), port
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, family=socket.AF_INET, type=socket.SOCK_DGRAM, proto=socket.IPPROTO_UDP)
    except (OSError, UnicodeError) as exc:
        raise _bad_address(host, port, exc) from exc
    return str(infos[0][4][0]), port


class SnmpClient:
    """One client for the whole process; create it once and share it.

    `requests` counts the SNMP requests sent (pysnmp's own retransmissions excluded), so
    callers can report requests per device. Use `async with SnmpClient() as c:` or call
    `close()` at shutdown so its sockets are closed.
    """

    def __init__(self, *, timeout: float = 2.0, retries: int = 1) -> None:
        self.timeout = timeout
        self.retries = retries
        self.requests = 0
        self._engine: Any = None  # v3 only, built on first use
        self._community: Any = None  # v1/v2c (asr_agent.adapters.snmp.community), built on first use
        self._hl: Any = None

    async def __aenter__(self) -> SnmpClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._community is not None:
            self._community.close()
            self._community = None
        if self._engine is not None:
            self._engine.close_dispatcher()
            self._engine = None

    # -- public operations -------------------------------------------------------------

    async def get(self, host: str, port: int, cred: SnmpCredential, oids: Sequence[str], *,
                  timeout: float | None = None, retries: int | None = None) -> list[VarBind]:
        """GET each OID; a missing object comes back as value None."""
        # v1 reports a missing object as an error on the whole PDU: drop it and re-ask.
        missing = None if cred.version == "1" else _NOT_PER_VARBIND
        return await self._each("get", host, port, cred, oids, timeout, retries, missing)

    async def next(self, host: str, port: int, cred: SnmpCredential, oids: Sequence[str], *,
                   timeout: float | None = None, retries: int | None = None) -> list[VarBind]:
        """One GETNEXT step for each OID; past the end of the MIB the value is END_OF_MIB."""
        # noSuchName on one varbind of a GETNEXT is v1's way of saying "end of MIB".
        return await self._each("next", host, port, cred, oids, timeout, retries, END_OF_MIB)

    async def _each(self, kind: str, host: str, port: int, cred: SnmpCredential,
                    oids: Sequence[str], timeout: float | None, retries: int | None,
                    missing: Value) -> list[VarBind]:
        """One answer per OID: a varbind refused with noSuchName gets `missing` as its value
        and the others are asked again (unless `missing` is _NOT_PER_VARBIND)."""
        pending = list(oids)
        positions = list(range(len(pending)))
        result: dict[int, VarBind] = {}
        while pending:
            status, index, vbs = await self._send(kind, host, port, cred, pending, timeout, retries)
            if status == "noSuchName" and missing is not _NOT_PER_VARBIND and 0 < index <= len(pending):
                result[positions[index - 1]] = (pending[index - 1], missing)
                del pending[index - 1], positions[index - 1]
                continue
            self._raise_status(status, index, pending, host, port)
            for pos, vb in zip(positions, vbs, strict=True):
                result[pos] = vb
            break
        return [result[i] for i in range(len(oids))]

    async def bulk(self, host: str, port: int, cred: SnmpCredential, non_repeaters: Sequence[str],
                   repeaters: Sequence[str], max_repetitions: int, *, timeout: float | None = None,
                   retries: int | None = None) -> list[VarBind]:
        """One GETBULK: the successor of each non-repeater, then up to max_repetitions rows of
        successors of the repeaters, flat, in PDU order (row by row). v2c and v3 only."""
        if cred.version == "1":
            raise SnmpProtocolError(f"{_where(host, port)}: GETBULK does not exist in SNMPv1; "
                                    "use next() or walk()", host=host)
        oids = [*non_repeaters, *repeaters]
        while True:
            status, index, vbs = await self._send(
                "bulk", host, port, cred, oids, timeout, retries,
                non_repeaters=len(non_repeaters), max_repetitions=max_repetitions)
            if status == "tooBig" and max_repetitions > 1:
                # Some agents refuse rather than trim an oversized answer: ask for fewer rows.
                max_repetitions //= 2
                continue
            self._raise_status(status, index, oids, host, port)
            return vbs

    async def walk(self, host: str, port: int, cred: SnmpCredential, oid: str, *,
                   max_repetitions: int = 25, timeout: float | None = None,
                   retries: int | None = None) -> list[VarBind]:
        """Every object under `oid` (GETBULK for v2c/v3, GETNEXT for v1), in order."""
        prefix = oid.strip(".") + "."
        found: list[VarBind] = []
        cursor = oid.strip(".")
        while True:
            if cred.version == "1":
                batch = await self.next(host, port, cred, [cursor], timeout=timeout, retries=retries)
            else:
                batch = await self.bulk(host, port, cred, [], [cursor], max_repetitions,
                                        timeout=timeout, retries=retries)
            if not batch:
                return found
            for name, value in batch:
                if value is END_OF_MIB or not name.startswith(prefix):
                    return found
                if _oid_key(name) <= _oid_key(cursor):
                    raise SnmpProtocolError(
                        f"{_where(host, port)}: the device answered {name} after {cursor} "
                        "(OIDs not increasing); its SNMP agent is broken", host=host, oid=name)
                found.append((name, value))
                cursor = name

    # -- pysnmp plumbing ---------------------------------------------------------------

    # v1/v2c go through our own request table over pysnmp's message definitions
    # (asr_agent.adapters.snmp.community): nothing kept per address, and none of pysnmp's v3 stack.
    # The v3 engine keeps every target's configuration (~21 KiB each) for the life of the
    # process and pulls in USM's ciphers: it is built only when a v3 credential is first used.

    def _usm_api(self) -> Any:
        if self._hl is None:
            from pysnmp.hlapi.v3arch import asyncio as hl

            self._hl = hl
        return self._hl

    def _engine_for_use(self) -> Any:
        if self._engine is None:
            self._engine = self._usm_api().SnmpEngine()
        return self._engine

    def _usm_user(self, cred: SnmpCredential) -> Any:
        hl = self._usm_api()
        auth_proto = {
            "MD5": hl.usmHMACMD5AuthProtocol, "SHA": hl.usmHMACSHAAuthProtocol,
            "SHA224": hl.usmHMAC128SHA224AuthProtocol, "SHA256": hl.usmHMAC192SHA256AuthProtocol,
            "SHA384": hl.usmHMAC256SHA384AuthProtocol, "SHA512": hl.usmHMAC384SHA512AuthProtocol,
        }[cred.auth_protocol]
        priv_proto = {
            "AES": hl.usmAesCfb128Protocol, "AES192": hl.usmAesCfb192Protocol,
            "AES256": hl.usmAesCfb256Protocol, "DES": hl.usmDESPrivProtocol,
        }[cred.priv_protocol]
        kwargs: dict[str, Any] = {}
        if cred.auth_key is not None:
            kwargs.update(authKey=cred.auth_key.reveal(), authProtocol=auth_proto)
        if cred.priv_key is not None:
            kwargs.update(privKey=cred.priv_key.reveal(), privProtocol=priv_proto)
        return hl.UsmUserData(cred.user, **kwargs)

    async def _target(self, host: str, port: int, timeout: float, retries: int) -> Any:
        hl = self._usm_api()
        cls = hl.Udp6TransportTarget if _is_ipv6(host) else hl.UdpTransportTarget
        try:
            return await cls.create((host, port), timeout=timeout, retries=retries)
        except Exception as exc:  # pysnmp wraps resolver failures in its own error types
            raise _bad_address(host, port, exc) from exc

    async def _send(self, kind: str, host: str, port: int, cred: SnmpCredential,
                    oids: Sequence[str], timeout: float | None, retries: int | None,
                    **bulk: int) -> tuple[str | None, int, list[VarBind]]:
        timeout = self.timeout if timeout is None else timeout
        retries = self.retries if retries is None else retries
        if cred.version == "3":
            target = await self._target(host, port, timeout, retries)
        else:
            address = await _resolve(host, port)
        self.requests += 1
        try:
            if cred.version == "3":
                error_indication, error_status, error_index, answer_vbs = await self._send_usm(
                    kind, cred, target, oids, bulk)
            else:
                error_indication, error_status, error_index, answer_vbs = await self._send_community(
                    kind, cred, address, oids, timeout, retries, bulk)
        except SnmpError:
            raise
        except Exception as exc:  # any pysnmp failure must surface as our own type
            raise SnmpProtocolError(f"{_where(host, port)}: SNMP request for {oids[0]} failed: {exc}",
                                    host=host, oid=oids[0]) from exc
        if error_indication:
            raise _map_indication(error_indication, host, port, cred, oids[0])
        status = error_status.prettyPrint() if error_status else None
        return status, int(error_index or 0), [_plain(vb) for vb in _flatten(answer_vbs)]

    async def _send_community(self, kind: str, cred: SnmpCredential, address: tuple[str, int],
                              oids: Sequence[str], timeout: float, retries: int,
                              bulk: dict[str, int]) -> tuple[Any, Any, int, list[Any]]:
        from asr_agent.adapters.snmp.community import CommunityTransport

        if self._community is None:
            self._community = CommunityTransport()
        assert cred.community is not None
        answer = await self._community.request(kind, cred.version, cred.community.reveal(), address,
                                               list(oids), timeout=timeout, retries=retries, **bulk)
        if answer is None:
            return _TIMED_OUT, None, 0, []
        return None, answer.error_status, answer.error_index, answer.varbinds

    async def _send_usm(self, kind: str, cred: SnmpCredential, target: Any,
                        oids: Sequence[str], bulk: dict[str, int]) -> Any:
        hl = self._usm_api()
        engine = self._engine_for_use()
        context = hl.ContextData(contextName=cred.context_name) if cred.context_name else hl.ContextData()
        varbinds = [hl.ObjectType(hl.ObjectIdentity(oid.strip("."))) for oid in oids]
        user = self._usm_user(cred)
        if kind == "get":
            return await hl.get_cmd(engine, user, target, context, *varbinds, lookupMib=False)
        if kind == "next":
            return await hl.next_cmd(engine, user, target, context, *varbinds, lookupMib=False)
        return await hl.bulk_cmd(engine, user, target, context, bulk["non_repeaters"],
                                 bulk["max_repetitions"], *varbinds, lookupMib=False)

    @staticmethod
    def _raise_status(status: str | None, index: int, oids: Sequence[str], host: str,
                      port: int) -> None:
        if not status:
            return
        oid = oids[index - 1] if 0 < index <= len(oids) else (oids[0] if oids else None)
        raise SnmpProtocolError(
            f"{_where(host, port)}: the device answered {status!r} for {oid}; "
            "it may not support this object or request size", host=host, oid=oid)


def _flatten(vbs: Any) -> list[Any]:
    out: list[Any] = []
    for item in vbs:
        if isinstance(item, (list, tuple)) and item and not hasattr(item, "prettyPrint") \
                and isinstance(item[0], (list, tuple)):
            out.extend(item)
        else:
            out.append(item)
    return out


def _oid_key(oid: str) -> tuple[int, ...]:
    return tuple(int(part) for part in oid.strip(".").split("."))


def _plain(vb: Any) -> VarBind:
    name, value = vb[0], vb[1]
    return str(name.getOid() if hasattr(name, "getOid") else name), plain(value)


_AUTH_INDICATIONS = frozenset({
    "WrongDigest", "UnknownUserName", "DecryptionError", "AuthenticationError",
    "AuthenticationFailure", "UnknownSecurityName", "UnsupportedSecurityLevel",
    "UnsupportedAuthProtocol", "UnsupportedPrivProtocol", "NotInTimeWindow", "NoEncryption",
    "NoAuthentication", "UnknownEngineID",
})


def _map_indication(indication: Any, host: str, port: int, cred: SnmpCredential,
                    oid: str) -> SnmpError:
    kind = type(indication).__name__
    where = _where(host, port)
    if kind == "RequestTimedOut":
        hint = ("check the address, that the device is on, and the community"
                if cred.version != "3" else "check the address and that the device is on")
        return SnmpTimeout(f"{where}: no answer to {cred.describe()} ({hint})", host=host, oid=oid)
    if kind in _AUTH_INDICATIONS:
        return SnmpAuthError(f"{where}: the device refused {cred.describe()}: {indication} "
                             "(check the v3 user, keys and protocols)", host=host, oid=oid)
    return SnmpProtocolError(f"{where}: SNMP error for {oid}: {indication}", host=host, oid=oid)
