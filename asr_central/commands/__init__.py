"""Sub-commands of `asr-central`, one module each (see asr_agent.app.commands)."""
