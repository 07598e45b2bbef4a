"""The agent's pure rules: no I/O, no adapter, no app module.

    printer_mib   Printer-MIB walks into readings      oids     every OID the agent reads
    vendors/      vendor knowledge, one table per vendor catalog  the supply catalog
    serials       the one serial placeholder list        levels   a level in words
    consumption   levels into grams consumed            forecast days until empty
    summary       a day's readings into a wire summary  device_state  one printer's state
"""
