"""The command line: one thin module per command, all with ``--format json``."""
