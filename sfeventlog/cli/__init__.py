"""The ``sfeventlog`` command line: one module per command."""
