"""Packages: the runtime code, the bundled plugins, the benchmarks and the docs.

The operator docs ship in the wheel as the data-only package
``sfeventlog_docs`` (the ``docs/`` folder), so ``sfeventlog docs TOPIC``
prints them where there is no source tree. The benchmarks are the separate
top-level package ``sfeventlog_bench`` (``benchmarks/sfeventlog_bench``),
outside the runtime package; ``sfeventlog bench`` imports it on demand and
the ``bench`` extra brings its peers. Everything else is in setup.cfg.
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=[
        "sfeventlog", "sfeventlog.*", "sfeventlog_transports", "sfeventlog_transports.*",
    ]) + ["sfeventlog_docs", "sfeventlog_docs.monitoring", "sfeventlog_bench"],
    package_dir={"sfeventlog_docs": "docs", "sfeventlog_bench": "benchmarks/sfeventlog_bench"},
)
