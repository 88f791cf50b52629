"""Packages: the runtime code, the bundled plugins, and the docs.

The operator docs ship in the wheel as the data-only package
``sfeventlog_docs`` (the ``docs/`` folder), so ``sfeventlog docs TOPIC``
prints them where there is no source tree. Everything else is in setup.cfg.
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=[
        "sfeventlog", "sfeventlog.*", "sfeventlog_transports", "sfeventlog_transports.*",
    ]) + ["sfeventlog_docs", "sfeventlog_docs.monitoring"],
    package_dir={"sfeventlog_docs": "docs"},
)
