#!/usr/bin/env python3
"""Publisher side of the agent's update channel: creates the signing keys and writes a
signed TUF repository (metadata + targets) that any static web server can serve.

Layout written (consistent snapshots, so a client never mixes two publications):

    KEYS/  root.pem targets.pem snapshot.pem timestamp.pem   Ed25519 private keys (0600)
    REPO/metadata/  1.root.json  N.targets.json  N.snapshot.json  timestamp.json
    REPO/targets/   channels/<sha256>.asr-agent-<channel>.json   the channel documents
                    wheels/<sha256>.<wheel>                       agent + dependency wheels
                    windows/<sha256>.<msi>                        Windows installers

A channel document (target `channels/asr-agent-<channel>.json`) names the newest version
on that channel and, per platform, the target paths that install it:

    {"schema": 1, "channel": "stable", "version": "0.2.0", "published": "...Z",
     "artifacts": {"linux": ["wheels/asr-0.2.0-py3-none-any.whl", ...],
                   "windows": ["windows/asr-agent-0.2.0-x64.msi"]}}

Commands (run `python asr_update_repo.py -h`):
    init      create keys (unless present) and version 1 of every role
    publish   add a release's files, point a channel at it, re-sign targets/snapshot/timestamp
    timestamp re-sign the timestamp only (run daily from cron: it expires after a day)
    export-root  copy the current root metadata to where the agent package ships it

Keep root.pem offline (it is only needed for `init` and key rotation); the timestamp key
is the only one a cron job needs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography.hazmat.primitives.serialization import load_pem_private_key
from securesystemslib.signer import CryptoSigner, Signer
from tuf.api.metadata import (
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

ROLES = ("root", "targets", "snapshot", "timestamp")
CHANNELS = ("stable", "beta")
PLATFORMS = ("linux", "windows")
# How long each role's signature stays valid: the timestamp is re-signed daily, so a
# frozen mirror is noticed within a day; root is re-signed by hand once a year.
LIFETIMES = {
    "root": timedelta(days=365),
    "targets": timedelta(days=120),
    "snapshot": timedelta(days=30),
    "timestamp": timedelta(days=1),
}
_PRETTY = JSONSerializer(compact=False)


def channel_target(channel: str) -> str:
    """The TUF target path of a channel document."""
    return f"channels/asr-agent-{channel}.json"


def _utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


# --- keys ---------------------------------------------------------------------------

def generate_keys(keys_dir: Path) -> dict[str, CryptoSigner]:
    """Create one Ed25519 key per role in keys_dir (refuses to overwrite existing keys)."""
    keys_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(keys_dir, 0o700)
    signers: dict[str, CryptoSigner] = {}
    for role in ROLES:
        path = keys_dir / f"{role}.pem"
        if path.exists():
            raise SystemExit(f"{path}: a key already exists; delete it deliberately to replace it")
        signer = CryptoSigner.generate_ed25519()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(signer.private_bytes)
        signers[role] = signer
    return signers


def load_signers(keys_dir: Path, roles: Iterable[str] = ROLES) -> dict[str, Signer]:
    signers: dict[str, Signer] = {}
    for role in roles:
        path = keys_dir / f"{role}.pem"
        if not path.is_file():
            raise SystemExit(f"{path}: missing {role} key (run `init`, or fetch it from the key holder)")
        signers[role] = CryptoSigner(load_pem_private_key(path.read_bytes(), password=None))
    return signers


# --- repository ---------------------------------------------------------------------

class Repository:
    """A TUF repository directory on disk, written role by role."""

    def __init__(self, repo_dir: Path) -> None:
        self.dir = repo_dir
        self.metadata_dir = repo_dir / "metadata"
        self.targets_dir = repo_dir / "targets"

    # reading the newest published state
    def root(self) -> Metadata[Root]:
        versions = sorted(int(p.name.split(".")[0]) for p in self.metadata_dir.glob("*.root.json"))
        if not versions:
            raise SystemExit(f"{self.metadata_dir}: no root metadata (run `init` first)")
        return Metadata[Root].from_file(str(self.metadata_dir / f"{versions[-1]}.root.json"))

    def timestamp(self) -> Metadata[Timestamp]:
        return Metadata[Timestamp].from_file(str(self.metadata_dir / "timestamp.json"))

    def snapshot(self) -> Metadata[Snapshot]:
        version = self.timestamp().signed.snapshot_meta.version
        return Metadata[Snapshot].from_file(str(self.metadata_dir / f"{version}.snapshot.json"))

    def targets(self) -> Metadata[Targets]:
        version = self.snapshot().signed.meta["targets.json"].version
        return Metadata[Targets].from_file(str(self.metadata_dir / f"{version}.targets.json"))

    # writing
    def _write(self, md: Metadata, name: str) -> None:
        self.metadata_dir.mkdir(parents=True, exist_ok=True)
        path = self.metadata_dir / name
        tmp = path.with_name(path.name + ".tmp")
        md.to_file(str(tmp), _PRETTY)
        # Readers (the web server) see either the old or the new file, never half of one.
        os.replace(tmp, path)

    def write_root(self, md: Metadata[Root]) -> None:
        self._write(md, f"{md.signed.version}.root.json")

    def write_targets(self, md: Metadata[Targets]) -> None:
        self._write(md, f"{md.signed.version}.targets.json")

    def write_snapshot(self, md: Metadata[Snapshot]) -> None:
        self._write(md, f"{md.signed.version}.snapshot.json")

    def write_timestamp(self, md: Metadata[Timestamp]) -> None:
        self._write(md, "timestamp.json")

    def add_target_file(self, targets: Targets, target_path: str, data: bytes) -> None:
        """Store data under its consistent-snapshot name and list it in targets."""
        info = TargetFile.from_data(target_path, data, ["sha256"])
        old = targets.targets.get(target_path)
        if old is not None and old.hashes != info.hashes and not target_path.startswith("channels/"):
            raise SystemExit(f"{target_path}: already published with different content; "
                             "a released file never changes (bump the version instead)")
        directory, _, name = target_path.rpartition("/")
        dest = self.targets_dir / directory / f"{info.hashes['sha256']}.{name}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.exists():
            tmp = dest.with_name(dest.name + ".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, dest)
        targets.targets[target_path] = info


def _sign(md: Metadata, signer: Signer) -> Metadata:
    md.signatures.clear()
    md.sign(signer, append=True)
    return md


def init_repo(repo: Repository, signers: Mapping[str, Signer], *, now: datetime | None = None,
              lifetimes: Mapping[str, timedelta] = LIFETIMES) -> None:
    """Write version 1 of root, targets, snapshot and timestamp (one key per role)."""
    now = now or _utcnow()
    root = Root(expires=now + lifetimes["root"], consistent_snapshot=True)
    for role in ROLES:
        root.add_key(signers[role].public_key, role)
    repo.write_root(_sign(Metadata(root), signers["root"]))
    targets = Targets(expires=now + lifetimes["targets"])
    repo.write_targets(_sign(Metadata(targets), signers["targets"]))
    _write_snapshot_and_timestamp(repo, signers, targets_version=1, snapshot_version=1,
                                  timestamp_version=1, now=now, lifetimes=lifetimes)


def _write_snapshot_and_timestamp(repo: Repository, signers: Mapping[str, Signer], *,
                                  targets_version: int, snapshot_version: int,
                                  timestamp_version: int, now: datetime,
                                  lifetimes: Mapping[str, timedelta]) -> None:
    snapshot = Snapshot(version=snapshot_version, expires=now + lifetimes["snapshot"],
                        meta={"targets.json": MetaFile(version=targets_version)})
    repo.write_snapshot(_sign(Metadata(snapshot), signers["snapshot"]))
    timestamp = Timestamp(version=timestamp_version, expires=now + lifetimes["timestamp"],
                          snapshot_meta=MetaFile(version=snapshot_version))
    repo.write_timestamp(_sign(Metadata(timestamp), signers["timestamp"]))


def publish(repo: Repository, signers: Mapping[str, Signer], *, channel: str, version: str,
            artifacts: Mapping[str, Iterable[Path]], now: datetime | None = None,
            lifetimes: Mapping[str, timedelta] = LIFETIMES) -> dict:
    """Publish a release: add its files, point `channel` at it, bump and re-sign
    targets, snapshot and timestamp. Returns the channel document written."""
    if channel not in CHANNELS:
        raise SystemExit(f"unknown channel {channel!r}: use one of {', '.join(CHANNELS)}")
    now = now or _utcnow()
    targets_md = repo.targets()
    targets = targets_md.signed
    doc_artifacts: dict[str, list[str]] = {}
    for platform, files in artifacts.items():
        if platform not in PLATFORMS:
            raise SystemExit(f"unknown platform {platform!r}: use one of {', '.join(PLATFORMS)}")
        folder = "wheels" if platform == "linux" else "windows"
        paths = []
        for file in files:
            target_path = f"{folder}/{Path(file).name}"
            repo.add_target_file(targets, target_path, Path(file).read_bytes())
            paths.append(target_path)
        if not paths:
            raise SystemExit(f"no files given for platform {platform}")
        doc_artifacts[platform] = paths
    document = {
        "schema": 1,
        "channel": channel,
        "version": version,
        "published": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "artifacts": doc_artifacts,
    }
    repo.add_target_file(targets, channel_target(channel),
                         json.dumps(document, indent=2, sort_keys=True).encode())
    targets.version += 1
    targets.expires = now + lifetimes["targets"]
    repo.write_targets(_sign(targets_md, signers["targets"]))
    old_ts = repo.timestamp().signed
    _write_snapshot_and_timestamp(repo, signers, targets_version=targets.version,
                                  snapshot_version=old_ts.snapshot_meta.version + 1,
                                  timestamp_version=old_ts.version + 1, now=now,
                                  lifetimes=lifetimes)
    return document


def refresh_timestamp(repo: Repository, signers: Mapping[str, Signer], *,
                      now: datetime | None = None,
                      lifetime: timedelta = LIFETIMES["timestamp"]) -> None:
    """Re-sign the timestamp with a new expiry (same snapshot)."""
    now = now or _utcnow()
    md = repo.timestamp()
    md.signed.version += 1
    md.signed.expires = now + lifetime
    repo.write_timestamp(_sign(md, signers["timestamp"]))


def export_root(repo: Repository, dest: Path) -> None:
    """Copy the newest root metadata to dest (the file the agent package ships)."""
    root = repo.root()
    dest.write_bytes(root.to_bytes(_PRETTY))



# --- command line -------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=Path, required=True, help="directory of the role keys")
    parser.add_argument("--repo", type=Path, required=True, help="repository directory to write")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("init", help="create keys (unless present) and the first metadata")
    pub = sub.add_parser("publish", help="publish a release on a channel")
    pub.add_argument("--channel", choices=CHANNELS, required=True)
    pub.add_argument("--version", required=True, help="the agent version being released, e.g. 0.2.0")
    pub.add_argument("--linux", nargs="+", type=Path, default=[],
                     help="the agent wheel and every dependency wheel (pip download / pip wheel)")
    pub.add_argument("--windows", nargs="+", type=Path, default=[], help="the MSI")
    sub.add_parser("timestamp", help="re-sign the timestamp (daily)")
    exp = sub.add_parser("export-root", help="write the current root for the agent package")
    exp.add_argument("dest", type=Path, help="e.g. asr_agent/data/update-root.json")
    args = parser.parse_args(argv)
    repo = Repository(args.repo)

    if args.command == "init":
        present = all((args.keys / f"{r}.pem").exists() for r in ROLES)
        signers = load_signers(args.keys) if present else generate_keys(args.keys)
        init_repo(repo, signers)
        print(f"initialised {repo.metadata_dir} (root version 1)")
    elif args.command == "publish":
        artifacts = {k: v for k, v in (("linux", args.linux), ("windows", args.windows)) if v}
        if not artifacts:
            parser.error("publish needs --linux and/or --windows files")
        doc = publish(repo, load_signers(args.keys, ("targets", "snapshot", "timestamp")),
                      channel=args.channel, version=args.version, artifacts=artifacts)
        for platform, paths in doc["artifacts"].items():
            for path in paths:
                print(f"{platform}: {path}")
        print(f"channel {args.channel} now at {args.version}")
    elif args.command == "timestamp":
        refresh_timestamp(repo, load_signers(args.keys, ("timestamp",)))
        print("timestamp re-signed")
    elif args.command == "export-root":
        export_root(repo, args.dest)
        print(f"wrote {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
