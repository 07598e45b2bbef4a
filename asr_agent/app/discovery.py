"""Discovery: which printers live on the ranges an admin named, keyed by serial number.

Owns target expansion (CIDR ranges and hosts minus exclusions, lazily, with every refusal
explained), printer identification and de-duplication; the packets are the sweep's job.

Identification rules:
- a printer is a device that answers a Printer-MIB object (prtGeneralSerialNumber or a
  first row of prtMarkerSuppliesTable) or reports hrDeviceType.1 = hrDevicePrinter;
  anything else that answers is counted in `non_printers` and otherwise ignored;
- its identity is prtGeneralSerialNumber. A device without one gets
  "h:" + the first 20 hex digits of SHA-256 over sysObjectID, sysDescr and hrDeviceDescr
  (joined by U+001F). That is stable across address changes and reboots, but it changes
  with a firmware update that alters sysDescr, and two identical serial-less printers
  share it (they are then reported as one device with two addresses);
- the same identity on several addresses is one device, listed with all its addresses;
- the running agent keys its readings by the same identity (`identified`), so a printer
  without a serial is one device in the store, its analysis and the status page.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from asr_agent.domain import oids, serials
from asr_core.errors import SnmpError
from asr_agent.adapters.snmp.client import END_OF_MIB, SnmpClient, SnmpCredential
from asr_agent.adapters.snmp.sweep import (
    DEFAULT_RATE,
    DEFAULT_TIMEOUT,
    HR_DEVICE_DESCR,
    HR_DEVICE_TYPE,
    IDENTITY_OIDS,
    LOOPBACK_RATE,
    PRT_GENERAL_SERIAL_NUMBER,
    PRT_MARKER_SUPPLIES_DESCRIPTION,
    SYS_DESCR,
    SYS_OBJECT_ID,
    Sweep,
    SweepAnswer,
)
from asr_agent.domain.identity import IDENTITY_PREFIX, hashed_identity, identified
from asr_agent.domain.vendors import identify

# A /16 per argument: bigger ranges are almost always a typo (/8 for /24) and would take
# minutes at the safe rate; --force lifts it.
MAX_ADDRESSES = 1 << 16

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Progress = Callable[[int, int, int], None]  # (addresses done, addresses total, printers found)


@dataclass(frozen=True, slots=True)
class V3Target:
    """A named host probed with its own SNMPv3 user (v3 is never swept across ranges)."""

    host: str
    credential: SnmpCredential
    port: int = 161
    name: str = "v3"


@dataclass(frozen=True, slots=True)
class DiscoveredPrinter:
    identity: str                      # the serial, or "h:<hash>" without one
    serial: str | None
    host: str                          # the first of `addresses`
    port: int
    addresses: tuple[tuple[str, int], ...]
    vendor: str | None
    model: str | None
    asr_compatible: bool
    sys_object_id: str | None
    sys_descr: str | None
    hr_device_descr: str | None
    printer_mib: bool | None           # a prtMarkerSuppliesTable row answered
    credential: str                    # the name of the credential it answered to

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host, "port": self.port, "identity": self.identity,
            "serial": self.serial, "vendor": self.vendor, "model": self.model,
            "asr_compatible": self.asr_compatible, "sys_object_id": self.sys_object_id,
            "sys_descr": self.sys_descr, "hr_device_descr": self.hr_device_descr,
            "printer_mib": self.printer_mib, "credential": self.credential,
            "addresses": [{"host": h, "port": p} for h, p in self.addresses],
        }


@dataclass(frozen=True, slots=True)
class DiscoveryResult:
    printers: list[DiscoveredPrinter]
    non_printers: int
    silent: int
    swept: int
    refused: list[str]
    problems: list[str] = field(default_factory=list)  # v3 targets that refused us, unsendable


# ---- targets ------------------------------------------------------------------------------

@dataclass
class TargetPlan:
    """The accepted addresses (iterated lazily, as often as needed) and the refusals."""

    networks: list[IpNetwork]
    excluded: list[IpNetwork]
    skip: frozenset[IpAddress]        # network/broadcast addresses of the ranges as given
    refused: list[str]

    def __iter__(self) -> Iterator[IpAddress]:
        for net in self.networks:
            for part in _subtract(net, self.excluded):
                for address in part:
                    if address not in self.skip:
                        yield address

    def __len__(self) -> int:
        total = 0
        for net in self.networks:
            for part in _subtract(net, self.excluded):
                total += part.num_addresses - sum(1 for a in self.skip if a in part)
        return total

    @property
    def loopback(self) -> bool:
        """True when every address stays on this host (127.0.0.0/8, ::1)."""
        return bool(self.networks) and all(
            n.network_address.is_loopback and n.broadcast_address.is_loopback
            for n in self.networks)

    def __contains__(self, address: object) -> bool:
        if not isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address):
            return False
        return (address not in self.skip and any(address in n for n in self.networks)
                and not any(address in n for n in self.excluded))


def _subtract(net: IpNetwork, excluded: Sequence[IpNetwork]) -> Iterator[IpNetwork]:
    for i, ex in enumerate(excluded):
        if ex.version != net.version or not net.overlaps(ex):
            continue
        if net.subnet_of(ex):  # type: ignore[arg-type]
            return
        for part in net.address_exclude(ex):  # type: ignore[arg-type]
            yield from _subtract(part, excluded[i + 1:])
        return
    yield net


def _parse(spec: str) -> tuple[list[IpNetwork], bool] | str:
    """Networks for one argument and whether it was a range; or why it cannot be used."""
    text = spec.strip()
    if not text:
        return "empty target"
    try:
        net = ipaddress.ip_network(text, strict=False)
        return [net], "/" in text
    except ValueError:
        pass
    if "/" in text:
        return "not a valid CIDR range (write e.g. 192.0.2.0/24)"
    try:
        infos = socket.getaddrinfo(text, None, type=socket.SOCK_DGRAM)
    except (socket.gaierror, UnicodeError) as exc:
        return f"not an IP address, range or resolvable host name ({exc})"
    found = sorted({ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos},
                   key=lambda a: (a.version, a))
    return [ipaddress.ip_network(found[0])], False


def _why_not(net: IpNetwork, *, loopback_only: bool) -> str | None:
    if loopback_only and not (net.network_address.is_loopback and net.broadcast_address.is_loopback):
        return "not a loopback address, and this run is restricted to loopback"
    if net.is_multicast:
        return "a multicast range, not device addresses"
    if net.network_address.is_unspecified and net.num_addresses == 1:
        return "the unspecified address"
    if net.version == 4 and net.network_address == ipaddress.IPv4Address("255.255.255.255"):
        return "the limited broadcast address"
    return None


def plan_targets(targets: Sequence[str], *, exclude: Sequence[str] = (), force: bool = False,
                 loopback_only: bool = False, max_addresses: int = MAX_ADDRESSES) -> TargetPlan:
    """Turn admin-named ranges and hosts into a lazily iterated address plan.

    Every argument that is not swept is listed in `refused` with the reason; nothing is
    dropped silently. Ranges bigger than `max_addresses` need `force`; `loopback_only`
    (set by tests and benchmarks) refuses any address outside 127.0.0.0/8 and ::1.
    """
    refused: list[str] = []
    networks: list[IpNetwork] = []
    edges: set[IpAddress] = set()
    inner: set[IpAddress] = set()
    for spec in targets:
        parsed = _parse(spec)
        if isinstance(parsed, str):
            refused.append(f"{spec}: {parsed}")
            continue
        nets, is_range = parsed
        net = nets[0]
        why = _why_not(net, loopback_only=loopback_only)
        if why is None and net.num_addresses > max_addresses and not force:
            why = (f"{net.num_addresses} addresses is more than the limit of {max_addresses} "
                   f"per argument; split the range or pass --force")
        if why is not None:
            refused.append(f"{spec}: {why}")
            continue
        networks.append(net)
        if is_range and net.num_addresses > 2:
            edges.update((net.network_address, net.broadcast_address))
        elif net.num_addresses <= 2:
            inner.update(net)
    excluded: list[IpNetwork] = []
    for spec in exclude:
        parsed = _parse(spec)
        if isinstance(parsed, str):
            # An exclusion we cannot honour must stop the sweep, not widen it.
            refused.append(f"exclusion {spec}: {parsed}; nothing was swept")
            return TargetPlan([], [], frozenset(), refused)
        excluded.extend(parsed[0])
    merged = [*ipaddress.collapse_addresses(n for n in networks if n.version == 4),
              *ipaddress.collapse_addresses(n for n in networks if n.version == 6)]
    excl = [*ipaddress.collapse_addresses(n for n in excluded if n.version == 4),
            *ipaddress.collapse_addresses(n for n in excluded if n.version == 6)]
    return TargetPlan(merged, excl, frozenset(edges - inner), refused)  # type: ignore[arg-type]


def default_rate(plan: TargetPlan) -> float:
    """Packets/s when the user names none: polite on a network, fast where none is crossed."""
    return LOOPBACK_RATE if plan.loopback else DEFAULT_RATE


# ---- identification -----------------------------------------------------------------------

def is_printer(answer: SweepAnswer) -> bool:
    return (bool(answer.printer_mib) or answer.serial is not None
            or answer.hr_device_type == oids.HR_DEVICE_PRINTER)


def identity_of(answer: SweepAnswer) -> str:
    if answer.serial:
        return answer.serial
    return hashed_identity(answer.sys_object_id, answer.sys_descr, answer.hr_device_descr)


class _Collector:
    """Folds answers into printers by identity; holds one entry per printer, not per address."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = names
        self.found: dict[str, tuple[SweepAnswer, str, list[tuple[str, int]]]] = {}
        self.non_printers = 0

    def add(self, answer: SweepAnswer, name: str | None = None) -> None:
        if not is_printer(answer):
            self.non_printers += 1
            return
        credential = name if name is not None else self.names[answer.credential]
        _, _, addresses = self.found.setdefault(identity_of(answer), (answer, credential, []))
        addresses.append((answer.host, answer.port))

    def printers(self) -> list[DiscoveredPrinter]:
        out = []
        for key, (answer, credential, addresses) in self.found.items():
            ordered = tuple(sorted(set(addresses), key=lambda hp: (ipaddress.ip_address(hp[0]), hp[1])))
            info = identify(answer.sys_object_id or "", answer.sys_descr or "",
                            hr_device_descr=answer.hr_device_descr)
            out.append(DiscoveredPrinter(
                identity=key, serial=answer.serial, host=ordered[0][0], port=ordered[0][1],
                addresses=ordered, vendor=info.vendor, model=info.model,
                asr_compatible=info.asr_compatible, sys_object_id=answer.sys_object_id,
                sys_descr=answer.sys_descr, hr_device_descr=answer.hr_device_descr,
                printer_mib=answer.printer_mib,
                credential=credential,
            ))
        out.sort(key=lambda p: (ipaddress.ip_address(p.host), p.port))
        return out


# ---- the sweep ----------------------------------------------------------------------------

async def _probe_v3(client: SnmpClient, target: V3Target, timeout: float) -> SweepAnswer:
    """The sweep's identity questions, asked through the client (v3 needs USM state)."""
    got = dict(await client.get(target.host, target.port, target.credential, IDENTITY_OIDS,
                                timeout=timeout))
    printer_mib: bool | None
    try:
        [(oid, value)] = await client.next(target.host, target.port, target.credential,
                                           [PRT_MARKER_SUPPLIES_DESCRIPTION], timeout=timeout)
        printer_mib = oid.startswith(PRT_MARKER_SUPPLIES_DESCRIPTION + ".") and value is not END_OF_MIB
    except SnmpError:
        printer_mib = None

    def text(oid: str) -> str | None:
        value = got.get(oid)
        if isinstance(value, bytes):
            return value.decode("utf-8", "replace").rstrip("\x00").strip() or None
        return None

    object_id, device_type = got.get(SYS_OBJECT_ID), got.get(HR_DEVICE_TYPE)
    return SweepAnswer(
        host=target.host, port=target.port, credential=-1,
        sys_object_id=object_id if isinstance(object_id, str) else None,
        sys_descr=text(SYS_DESCR), serial=serials.usable(text(PRT_GENERAL_SERIAL_NUMBER)),
        hr_device_type=device_type if isinstance(device_type, str) else None,
        hr_device_descr=text(HR_DEVICE_DESCR), printer_mib=printer_mib)


async def discover(targets: Sequence[str], *, port: int = 161,
                   credentials: Mapping[str, SnmpCredential] | None = None,
                   v3_targets: Sequence[V3Target] = (), exclude: Sequence[str] = (),
                   rate: float | None = None, timeout: float = DEFAULT_TIMEOUT,
                   retries: int = 1, force: bool = False, loopback_only: bool = False,
                   max_addresses: int = MAX_ADDRESSES, on_progress: Progress | None = None,
                   client: SnmpClient | None = None, **sweep_options: Any) -> DiscoveryResult:
    """Sweep `targets` with each v1/v2c credential in turn, probe `v3_targets`, identify.

    `credentials` maps a credential name to a v1/v2c SnmpCredential, tried in order on
    addresses that stay silent (default: v2c community "public"). `retries` re-asks a
    silent address with the same credential before moving on (for lossy networks).
    `rate` (packets/s, 0 = no limit) defaults to DEFAULT_RATE, or to LOOPBACK_RATE when
    every address is on this host, where no network sees the packets.
    """
    creds = dict(credentials) if credentials else {"public": SnmpCredential.v2c("public")}
    names = list(creds)
    plan = plan_targets(targets, exclude=exclude, force=force, loopback_only=loopback_only,
                        max_addresses=max_addresses)
    problems: list[str] = []
    v3_ok: list[V3Target] = []
    for target in v3_targets:
        v3_plan = plan_targets([target.host], loopback_only=loopback_only)
        if v3_plan.refused:
            plan.refused.extend(f"v3 target {r}" for r in v3_plan.refused)
        else:
            v3_ok.append(V3Target(str(next(iter(v3_plan))), target.credential, target.port,
                                  target.name))
    if rate is None:
        rate = default_rate(plan)
    v3_hosts = {(ipaddress.ip_address(t.host), t.port) for t in v3_ok}
    collector = _Collector(names)
    total = len(plan) + len(v3_ok)
    silent = 0

    # v3 hosts are named with their user: never spray communities at them as well.
    addresses = (a for a in plan if (a, port) not in v3_hosts) if v3_hosts else iter(plan)
    sweeper = Sweep(addresses, port=port, communities=list(creds.values()), rate=rate,
                    timeout=timeout, retries=retries, **sweep_options)
    stats = sweeper.stats

    async def report() -> None:
        while True:
            on_progress(stats.done, total, len(collector.found))  # type: ignore[misc]
            await asyncio.sleep(0.1)

    reporter = asyncio.create_task(report()) if on_progress else None
    try:
        if v3_ok:
            own_client = client is None
            v3_client = client or SnmpClient(timeout=timeout, retries=retries)
            try:
                for target in v3_ok:
                    try:
                        collector.add(await _probe_v3(v3_client, target, timeout), target.name)
                    except SnmpError as exc:
                        silent += 1
                        problems.append(f"{target.host}:{target.port} ({target.name}): {exc}")
                    stats.done += 1
            finally:
                if own_client:
                    v3_client.close()
        async for answer in sweeper.answers():
            collector.add(answer)
    finally:
        if reporter is not None:
            reporter.cancel()
    if on_progress:
        on_progress(total, total, len(collector.found))
    if stats.unsendable:
        problems.append(f"{stats.unsendable} addresses could not be sent to (broadcast or no route)")
    return DiscoveryResult(
        printers=collector.printers(), non_printers=collector.non_printers,
        silent=stats.silent + silent, swept=stats.addresses + len(v3_ok),
        refused=plan.refused, problems=problems)


async def discover_configured(cfg: Any, *, loopback_only: bool = False,
                              on_progress: Progress | None = None,
                              client: SnmpClient | None = None) -> DiscoveryResult:
    """Discovery over the ranges and hosts of an AgentConfig, merged into one result.

    Targets sharing a port and a v1/v2c credential list are swept together; a host whose
    credential is v3 is probed with its user; a range naming only v3 credentials is
    refused (v3 needs a USM exchange per address, so ranges are swept with v1/v2c).
    """
    from asr_agent.app.config import to_snmp_credential

    creds = cfg.snmp.credentials
    groups: dict[tuple[int, tuple[str, ...]], list[str]] = {}
    v3_targets: list[V3Target] = []
    refused: list[str] = []
    for target in [*cfg.targets.ranges, *cfg.targets.hosts]:
        spec = getattr(target, "cidr", None) or target.host
        plain = tuple(n for n in target.credentials if creds[n].version != "3")
        v3 = [n for n in target.credentials if creds[n].version == "3"]
        if v3 and getattr(target, "cidr", None) is not None:
            if not plain:
                refused.append(f"{spec}: only SNMPv3 credentials ({', '.join(v3)}); v3 is probed "
                               "on named hosts, not swept across ranges: list the hosts")
                continue
        elif v3:
            v3_targets.append(V3Target(target.host, to_snmp_credential(v3[0], cfg),
                                       target.port, v3[0]))
        if plain:
            groups.setdefault((target.port, plain), []).append(spec)
    found: dict[str, DiscoveredPrinter] = {}
    non_printers = silent = swept = 0
    problems: list[str] = []
    jobs: list[tuple[int, tuple[str, ...], list[str], Sequence[V3Target]]] = [
        (port, names, specs, ()) for (port, names), specs in groups.items()]
    if v3_targets:
        jobs.append((161, (), [], v3_targets))
    for port, names, specs, v3_job in jobs:
        result = await discover(
            specs, port=port, credentials={n: to_snmp_credential(n, cfg) for n in names} or None,
            v3_targets=v3_job, exclude=cfg.targets.exclude, rate=cfg.discovery.rate_pps,
            timeout=cfg.discovery.timeout_s, retries=cfg.snmp.retries, loopback_only=loopback_only,
            max_addresses=2 ** (32 - cfg.discovery.max_prefix), on_progress=on_progress,
            client=client)
        refused += result.refused
        problems += result.problems
        non_printers += result.non_printers
        silent += result.silent
        swept += result.swept
        for printer in result.printers:
            known = found.get(printer.identity)
            if known is not None:
                addresses = tuple(sorted({*known.addresses, *printer.addresses},
                                         key=lambda hp: (ipaddress.ip_address(hp[0]), hp[1])))
                printer = replace(known, addresses=addresses, host=addresses[0][0],
                                  port=addresses[0][1])
            found[printer.identity] = printer
    printers = sorted(found.values(), key=lambda p: (ipaddress.ip_address(p.host), p.port))
    return DiscoveryResult(printers, non_printers, silent, swept, refused, problems)


__all__ = [
    "IDENTITY_PREFIX", "MAX_ADDRESSES", "DiscoveredPrinter", "DiscoveryResult", "TargetPlan",
    "V3Target", "default_rate", "discover", "discover_configured", "hashed_identity",
    "identified", "identity_of", "is_printer", "plan_targets",
]
