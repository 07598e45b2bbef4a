"""Development aids, not installed with the agent: the demo, simulated printers and the
snmpsim launcher they run on. `scripts/demo` and the tests use them from a checkout."""
