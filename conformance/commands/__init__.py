"""The ``lstm-parity`` command and its subcommands."""
