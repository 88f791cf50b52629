"""Benchmark results: one ``Figure`` per row of the table, and the table itself."""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

TargetKind = Literal["ratio>=", "ratio<", "value<"]
Status = Literal["PASS", "MISS", "info", "UNAVAILABLE"]


@dataclass(frozen=True)
class Target:
    """What a figure must reach: a minimum ratio, a maximum ratio, or a maximum value."""

    kind: TargetKind
    threshold: float

    def met(self, value: float, ratio: float | None) -> bool:
        if self.kind == "ratio>=":
            return ratio is not None and ratio >= self.threshold
        if self.kind == "ratio<":
            return ratio is not None and ratio < self.threshold
        return value < self.threshold

    def describe(self, unit: str = "") -> str:
        if self.kind == "ratio>=":
            return f">= {self.threshold:g}x" if self.threshold >= 2 else f">= {self.threshold:.0%}"
        if self.kind == "ratio<":
            return f"< {self.threshold:g}x"
        return f"< {self.threshold:g} {unit}".rstrip()

    def __str__(self) -> str:
        return self.describe()


@dataclass
class Figure:
    """One measured figure, the reference measured in the same run, and the ratio.

    ``value`` and ``reference`` are medians over ``runs`` runs.  A figure
    whose prerequisites are missing (no MariaDB, say) has ``status``
    UNAVAILABLE and says why in ``note``.
    """

    key: str
    name: str
    value: float
    unit: str
    reference: float
    reference_name: str
    target: Target | None = None
    runs: int = 0
    note: str = ""
    unavailable: bool = False
    #: The per-run values behind ``value`` and ``reference``, where kept.
    samples: dict[str, list[float]] = field(default_factory=dict)

    @classmethod
    def from_runs(cls, key: str, name: str, values: Sequence[float], unit: str,
                  references: Sequence[float], reference_name: str,
                  target: Target | None = None, note: str = "") -> Figure:
        """A figure whose value and reference are the medians of their runs."""
        return cls(key, name, statistics.median(values), unit, statistics.median(references),
                   reference_name, target, runs=len(values), note=note,
                   samples={"value": list(values), "reference": list(references)})

    @property
    def ratio(self) -> float | None:
        if self.unavailable or not self.reference:
            return None
        return self.value / self.reference

    @property
    def status(self) -> Status:
        if self.unavailable:
            return "UNAVAILABLE"
        if self.target is None:
            return "info"
        return "PASS" if self.target.met(self.value, self.ratio) else "MISS"

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["target"] = None if self.target is None else self.target.describe(self.unit)
        out["ratio"] = self.ratio
        out["status"] = self.status
        return out


def unavailable(key: str, name: str, why: str) -> Figure:
    """A figure that could not be measured, saying why."""
    return Figure(key, name, 0.0, "", 0.0, "", note=why, unavailable=True)


def fmt(value: float, unit: str) -> str:
    """A value with its unit, rounded for reading."""
    if unit == "events/s":
        return f"{value:,.0f}/s"
    if value >= 100:
        return f"{value:,.0f} {unit}"
    if value >= 10:
        return f"{value:.1f} {unit}"
    return f"{value:.2f} {unit}"


def fmt_ratio(ratio: float | None) -> str:
    if ratio is None:
        return "-"
    # One decimal, so that 79.6% against a target of 80% does not print as 80%.
    return f"{ratio:.2f}x" if ratio >= 2 else f"{ratio:.1%}"


def render_table(figures: Sequence[Figure]) -> str:
    """The results as a fixed-width table (also valid Markdown)."""
    header = ["#", "figure", "value", "reference (same run)", "ratio", "target", "status"]
    rows = [header]
    for f in figures:
        if f.unavailable:
            rows.append([f.key, f.name, "-", "-", "-", "", f"UNAVAILABLE: {f.note}"])
            continue
        ratio = f.ratio
        rows.append([
            f.key, f.name, fmt(f.value, f.unit),
            f"{f.reference_name} {fmt(f.reference, f.unit)}",
            fmt_ratio(ratio),
            "" if f.target is None else f.target.describe(f.unit),
            f.status,
        ])
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def render_json(figures: Sequence[Figure], meta: dict[str, Any]) -> str:
    return json.dumps({"meta": meta, "figures": [f.as_dict() for f in figures]}, indent=2)
