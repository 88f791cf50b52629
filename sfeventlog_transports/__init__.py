"""Transports bundled with sfeventlog, one module per plugin.

Each is registered by name in the ``sfeventlog.transports`` entry-point
group in ``setup.cfg``; only the selected one is ever imported.
"""
