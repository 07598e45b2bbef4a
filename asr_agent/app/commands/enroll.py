"""`asr-agent enroll --central URL --token TOKEN`: register this agent's key and site.

First run: creates the agent key, registers it with a one-time token and saves the
identity. Again later (a new token): re-enrollment rotates the key; the old one stays
valid at central until the summaries already signed with it have been delivered.
"""

from __future__ import annotations

import argparse
import socket


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("enroll", help="register this agent with the central service",
                                   description=__doc__.splitlines()[0])
    parser.add_argument("--central", metavar="URL", required=True,
                        help="central service URL, e.g. https://asr.example.com")
    parser.add_argument("--token", required=True, help="one-time enrollment token from the admin")
    parser.add_argument("--config", metavar="PATH", default=None,
                        help="config file (default: $ASR_CONFIG, else the platform location)")
    parser.add_argument("--name", default=None, help="agent name shown at central "
                                                     "(default: this host's name)")
    parser.add_argument("--new-identity", action="store_true",
                        help="enroll as a new agent (after the old one was revoked)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from asr_agent.adapters import keys as signing
    from asr_agent.app.config import load_config
    from asr_agent.adapters.paths import default_config_file
    from asr_agent.adapters.uplink import AgentIdentity, UplinkSettings, build_client, enroll, redact_url

    path = args.config if args.config is not None else default_config_file()
    cfg = load_config(path)
    key_dir = cfg.paths(config_file=path).key_dir
    central = replace(cfg.central, url=args.central)
    settings = UplinkSettings.from_config(central)
    site_id = cfg.site.id
    name = args.name or socket.gethostname()

    identity = None if args.new_identity else AgentIdentity.load(key_dir)
    with build_client(settings) as client:
        if identity is None:
            if args.new_identity and (key_dir / signing.KEY_FILE).exists():
                # A revoked identity's key must not come back under a new agent.
                signing.rotate(key_dir)
                key = signing.commit_rotation(key_dir)
            else:
                key = signing.load_or_create(key_dir)
            answer = enroll(client, token=args.token, key=key, site_id=site_id, agent_name=name)
            identity = AgentIdentity(agent_id=answer["agent_id"], site_id=site_id,
                                     central_url=args.central, key_id=key.key_id)
        else:
            current, new = signing.rotate(key_dir)
            answer = enroll(client, token=args.token, key=new, site_id=site_id, agent_name=name,
                            agent_id=identity.agent_id)
            key = signing.commit_rotation(key_dir)
            retiring = tuple(k for k in (*identity.retiring_key_ids, current.key_id)
                             if k != key.key_id)
            identity = replace(identity, central_url=args.central, key_id=key.key_id,
                               retiring_key_ids=retiring)
    identity.save(key_dir)
    print(f"enrolled at {redact_url(args.central)} as agent {identity.agent_id} for site "
          f"{site_id} with key {identity.key_id}")
    if identity.retiring_key_ids:
        print(f"previous key(s) {', '.join(identity.retiring_key_ids)} stay valid until the "
              "queued summaries are delivered")
    return 0
