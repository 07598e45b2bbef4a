"""ASR core: the contract the agent and central share, and nothing else.

    records      devices, supplies, readings: the words both programs speak
    codes        the flag and alert codes, one spelling each
    wire         the summary format on the wire, its checks and canonical bytes
    wire_ranges  the bounds every wire field is checked against
    errors       the error tree (AsrError and its kinds, WireError among them)
    signing      Ed25519 verification and key ids (the agent's private keys are its own)
    yaml_source  the strict YAML reader behind the agent's config and central's registry
    cli          sub-command plumbing for `asr-agent` and `asr-central`
    secret       a secret that never prints; URL passwords masked
    migrations   the one schema migration runner both programs' SQLite files use

It imports neither `asr_agent` nor `asr_central`: both depend on it, never the reverse.
"""
