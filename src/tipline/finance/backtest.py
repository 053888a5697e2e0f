"""``tipline finance backtest LABELS.tsv``: precision and recall of every rule and of the alert logic on a
team's own labelled history, so thresholds can be tuned (as ezrules and Marble offer).

The labels file is tab-separated with a header: ``sender_id``, ``label`` (1/0, true/false, yes/no) and an
optional ``shape`` (any grouping: the alert rate per shape is printed too). A labelled sender with no
risky payment in the window counts as screened and not flagged.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .rules import RuleSet
from .screen import screen
from .store import FinanceStore

_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f"}


class LabelsError(ValueError):
    """The labels file cannot be read; the message says where and how to fix it."""


@dataclass
class Score:
    name: str
    flagged: int
    true_positives: int
    positives: int

    @property
    def precision(self) -> float | None:
        return self.true_positives / self.flagged if self.flagged else None

    @property
    def recall(self) -> float | None:
        return self.true_positives / self.positives if self.positives else None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "flagged": self.flagged,
            "true_positives": self.true_positives,
            "positives": self.positives,
            "precision": self.precision,
            "recall": self.recall,
        }


@dataclass
class BacktestResult:
    senders: int
    positives: int
    rules: list[Score]
    alert: Score
    by_shape: dict[str, tuple[int, int]] = field(default_factory=dict)  # shape -> (senders, alerted)

    def to_json(self) -> dict[str, Any]:
        return {
            "senders": self.senders,
            "positives": self.positives,
            "rules": [r.to_json() for r in self.rules],
            "alert": self.alert.to_json(),
            "by_shape": {k: {"senders": n, "alerted": a} for k, (n, a) in self.by_shape.items()},
        }


def read_labels(path: Path) -> dict[str, tuple[bool, str]]:
    try:
        fh = path.open(encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise LabelsError(f"{path}: no such file") from None
    with fh:
        reader = csv.DictReader(fh, delimiter="\t")
        cols = [c.strip().lower() for c in reader.fieldnames or []]
        if "sender_id" not in cols or "label" not in cols:
            raise LabelsError(f"{path}: the header must name sender_id and label (tab-separated), optionally shape")
        reader.fieldnames = cols
        out: dict[str, tuple[bool, str]] = {}
        for row in reader:
            sid = (row.get("sender_id") or "").strip()
            lab = (row.get("label") or "").strip().lower()
            if not sid:
                raise LabelsError(f"{path}: line {reader.line_num}: sender_id is empty")
            if lab not in _TRUE | _FALSE:
                raise LabelsError(f"{path}: line {reader.line_num}: label {lab!r} is not 1/0, true/false or yes/no")
            out[sid] = (lab in _TRUE, (row.get("shape") or "").strip())
    if not out:
        raise LabelsError(f"{path}: no labelled senders")
    return out


def backtest(
    store: FinanceStore, rs: RuleSet, labels: dict[str, tuple[bool, str]], **screen_args: Any
) -> BacktestResult:
    res = screen(store, rs, keep_values=True, save_state=False, **screen_args)
    rows = {str(r["sender_id"]): r for r in res.values or []}
    positives = sum(1 for lab, _ in labels.values() if lab)

    def score(name: str, col: str) -> Score:
        flagged = tp = 0
        for sid, (lab, _) in labels.items():
            r = rows.get(sid)
            if r is not None and bool(r[col]):
                flagged += 1
                tp += lab
        return Score(name, flagged, tp, positives)

    by_shape: dict[str, tuple[int, int]] = {}
    for sid, (_, shape) in labels.items():
        if shape:
            n, a = by_shape.get(shape, (0, 0))
            r = rows.get(sid)
            by_shape[shape] = (n + 1, a + int(r is not None and bool(r["alert"])))
    return BacktestResult(
        senders=len(labels),
        positives=positives,
        rules=[score(r.id, f"f_{r.id}") for r in rs.rules],
        alert=score("alert", "alert"),
        by_shape=dict(sorted(by_shape.items())),
    )
