"""`asr-agent poll HOST[:PORT]`: read one printer once and print its supplies.

`run_poll(args)` does the read and returns the Reading, so other options (such as
recording into the store) can be layered on without touching the SNMP path.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from asr_core.records import Reading
    from asr_agent.adapters.snmp import SnmpCredential

DEFAULT_PORT = 161


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "poll", help="read one printer's supplies once",
        description="Read one printer over SNMP and print its identity and supplies.")
    parser.add_argument("target", metavar="HOST[:PORT]",
                        help="printer address, e.g. 10.0.0.5, 10.0.0.5:1161 or [::1]:1161")
    parser.add_argument("--community", help="SNMPv1/v2c community (default: public)")
    parser.add_argument("--snmp-version", choices=("1", "2c", "3"),
                        help="SNMP version (default: 3 with --v3-user, else 2c)")
    parser.add_argument("--v3-user", metavar="USER", help="SNMPv3 user (authPriv with the keys below)")
    parser.add_argument("--auth-key", metavar="KEY", help="SNMPv3 authentication key")
    parser.add_argument("--auth-proto", metavar="P", default="SHA",
                        choices=("SHA", "SHA224", "SHA256", "SHA384", "SHA512", "MD5"),
                        help="SNMPv3 authentication protocol (default: SHA)")
    parser.add_argument("--priv-key", metavar="KEY", help="SNMPv3 privacy key")
    parser.add_argument("--priv-proto", metavar="P", default="AES",
                        choices=("AES", "AES192", "AES256", "DES"),
                        help="SNMPv3 privacy protocol (default: AES)")
    parser.add_argument("--context", metavar="NAME", default="",
                        help="SNMPv3 context name (some devices need one, e.g. HP: Jetdirect)")
    parser.add_argument("--timeout", type=float, default=2.0, metavar="S",
                        help="seconds to wait for each answer (default: 2)")
    parser.add_argument("--retries", type=int, default=1, metavar="N",
                        help="retransmissions per request (default: 1)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--store", action="store_true",
                        help="also record the reading in the agent's store (see asr-agent status)")
    parser.add_argument("--config", metavar="PATH", default=None,
                        help="with --store: the config naming the data directory")
    parser.add_argument("--data-dir", metavar="DIR", default=None,
                        help="with --store: the agent's data directory (default: from the config)")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    reading = run_poll(args)
    if args.store:
        where = store_reading(reading, config=args.config, data_dir=args.data_dir)
        print(f"recorded in {where}", file=sys.stderr)
    if args.json:
        print(json.dumps(reading_as_json(reading), indent=2))
    else:
        print(format_table(reading))
    return 0


def run_poll(args: argparse.Namespace) -> Reading:
    """The one-shot read behind `asr-agent poll` (raises asr_core.errors on failure)."""
    import asyncio

    from asr_agent.app.poller import poll_printer
    from asr_agent.adapters.snmp import SnmpClient

    host, port = parse_target(args.target)
    cred = credential_from_args(args)

    async def read() -> Reading:
        async with SnmpClient(timeout=args.timeout, retries=args.retries) as client:
            return await poll_printer(client, host, port, cred)

    return asyncio.run(read())


def store_reading(reading: Reading, *, config: str | None, data_dir: str | None) -> Path:
    """Record one reading where the agent keeps its samples; returns the store's path. A
    printer without a serial is keyed by the hash of what its answer says, as the running
    agent keys a configured host (one that discovery found is keyed by discovery's identity,
    which also hashes hrDeviceDescr, read by discovery only)."""
    from asr_agent.app.config import default_config, load_config
    from asr_agent.domain.identity import identified
    from asr_agent.adapters.paths import default_config_file
    from asr_agent.adapters.store import Store

    path = Path(config) if config else default_config_file()
    cfg = load_config(path) if config or path.exists() else default_config()
    folder = Path(data_dir) if data_dir else cfg.paths(config_file=path if path.exists() else None).data_dir
    with Store.in_dir(folder) as store:
        store.record_reading(identified(reading))
        return store.path


def parse_target(target: str) -> tuple[str, int]:
    """`host`, `host:port`, `[v6]:port` or a bare IPv6 address into (host, port)."""
    from asr_core.errors import ConfigError

    text = target.strip()
    host, port_text = text, None
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ConfigError(f"{target!r}: missing ']' in IPv6 address; write [ADDR]:PORT")
        host, rest = text[1:end], text[end + 1:]
        if rest:
            if not rest.startswith(":"):
                raise ConfigError(f"{target!r}: expected ':PORT' after ']'")
            port_text = rest[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    if not host:
        raise ConfigError(f"{target!r}: no host given")
    if port_text is None:
        return host, DEFAULT_PORT
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ConfigError(f"{target!r}: port must be a number from 1 to 65535")
    return host, int(port_text)


def credential_from_args(args: argparse.Namespace) -> SnmpCredential:
    from asr_core.errors import ConfigError
    from asr_core.secret import Secret
    from asr_agent.adapters.snmp import SnmpCredential

    version = args.snmp_version or ("3" if args.v3_user else "2c")
    if version == "3":
        if not args.v3_user:
            raise ConfigError("SNMPv3 needs --v3-user", key="--v3-user")
        if args.community:
            raise ConfigError("--community is for SNMPv1/v2c; drop it or --v3-user", key="--community")
        return SnmpCredential(
            version="3", user=args.v3_user,
            auth_key=Secret(args.auth_key) if args.auth_key else None,
            priv_key=Secret(args.priv_key) if args.priv_key else None,
            auth_protocol=args.auth_proto, priv_protocol=args.priv_proto,
            context_name=args.context or "")
    if args.v3_user:
        raise ConfigError(f"--v3-user needs SNMP version 3, not {version}", key="--snmp-version")
    return SnmpCredential(version=version, community=Secret(args.community or "public"))


def supply_as_json(supply: Any) -> dict[str, Any]:
    return {
        "index": supply.index,
        "description": supply.description,
        "type": supply.type.wire_name,
        "supply_class": supply.supply_class.wire_name,
        "color": supply.color,
        "unit": supply.unit.wire_name if supply.unit is not None else None,
        "max_capacity": supply.max_capacity,
        "level": supply.level,
        "remaining_percent": supply.remaining_percent,
        "level_state": supply.level_state.value,
        "part_number": supply.part_number,
        "cartridge_serial": supply.cartridge_serial,
        "level_clamped": supply.level_clamped,
    }


def reading_as_json(reading: Reading) -> dict[str, Any]:
    """The `--json` shape: host, port, identity, page count, supplies (plus status extras)."""
    device = reading.device
    return {
        "host": reading.host,
        "port": reading.port,
        "vendor": device.vendor,
        "asr_compatible": device.asr_compatible,
        "model": device.model,
        "serial": device.serial,
        "sys_object_id": device.sys_object_id,
        "sys_descr": device.sys_descr,
        "page_count": reading.page_count,
        "printer_status": reading.printer_status,
        "device_status": reading.device_status,
        "error_state": sorted(reading.error_state),
        "taken_at": reading.taken_at.isoformat(),
        "supplies": [supply_as_json(s) for s in reading.supplies],
        "warnings": list(reading.warnings),
    }


def format_table(reading: Reading) -> str:
    device = reading.device
    where = f"[{reading.host}]:{reading.port}" if ":" in reading.host else f"{reading.host}:{reading.port}"
    compat = "ASR-compatible" if device.asr_compatible else "monitored only"
    lines = [
        f"{where}  {device.vendor or 'unknown vendor'} {device.model or ''}".rstrip() + f"  ({compat})",
        f"serial {device.serial or '-'}   pages {_show(reading.page_count)}   "
        f"status {reading.printer_status or '-'}/{reading.device_status or '-'}"
        + (f"   errors {', '.join(sorted(reading.error_state))}" if reading.error_state else ""),
        "",
    ]
    header = ("#", "description", "type", "colour", "level", "capacity", "unit", "left", "part", "serial")
    rows = [header]
    for s in reading.supplies:
        left = f"{s.remaining_percent:.0f}%" if s.remaining_percent is not None else s.level_state.value
        if s.level_clamped:
            left += "*"
        rows.append((str(s.index), s.description[:36], s.type.wire_name, s.color or "-",
                     _show(s.level), _show(s.max_capacity), s.unit.wire_name if s.unit else "-",
                     left, s.part_number or "-", s.cartridge_serial or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for row in rows:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    if any(s.level_clamped for s in reading.supplies):
        lines.append("* level above capacity; clamped")
    lines += [f"warning: {w}" for w in reading.warnings]
    return "\n".join(lines)


def _show(value: int | None) -> str:
    return "-" if value is None else str(value)

