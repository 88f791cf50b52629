"""``sfeventlog docs``: print an operator page shipped with the package."""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

from sfeventlog.cli.common import UsageError, add_command

DOCS_PACKAGE = "sfeventlog_docs"


def pages() -> dict[str, Traversable]:
    """Topic name (the file name without ``.md``) -> packaged page."""
    root = resources.files(DOCS_PACKAGE)
    return {p.name.removesuffix(".md"): p for p in root.iterdir() if p.name.endswith(".md")}


def see(topic: str) -> str:
    """How a help or error text points a user at a page."""
    return f"run 'sfeventlog docs {topic}'"


def register(sub: Any) -> None:
    p = add_command(
        sub, "docs", help="print an operator page (configuration, runbooks, metrics...)",
        description="Prints one of the docs pages shipped with sfeventlog, as Markdown."
        " With no topic, lists the topics.",
        examples=["sfeventlog docs", "sfeventlog docs configuration",
                  "sfeventlog docs runbook-cutover | less"],
    )
    p.add_argument("topic", nargs="?", help="a page name, as listed with no topic")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    found = pages()
    if args.topic is None:
        for name in sorted(found):
            print(name)
        return 0
    page = found.get(args.topic.removesuffix(".md"))
    if page is None:
        raise UsageError(f"no page {args.topic!r}; topics: {', '.join(sorted(found))}")
    sys.stdout.write(page.read_text(encoding="utf-8"))
    return 0
