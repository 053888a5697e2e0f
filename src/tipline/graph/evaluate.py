"""Measuring the networks against the synthetic world's ground truth (used by the tests and the bench).

Pairwise precision and recall: over all pairs of reports, a pair is *predicted* together when both are in
one network, and *truly* together when both belong to one ground-truth network (noise reports belong to
none, so every pair with a noise report is truly apart). Precision = right pairs / predicted pairs;
recall = right pairs / true pairs. Counted from the contingency table, so it is O(reports), not O(n²).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Mapping
from dataclasses import dataclass


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


@dataclass(frozen=True)
class PairScore:
    precision: float
    recall: float
    predicted_pairs: int
    true_pairs: int
    right_pairs: int

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def pairwise(predicted: Mapping[int, Hashable], truth: Mapping[int, Hashable | None]) -> PairScore:
    """``predicted``: report -> network id; ``truth``: report -> ground-truth network (None: noise).
    Reports missing from ``predicted`` count as networks of their own."""
    pred = {r: predicted.get(r, ("alone", r)) for r in truth}
    true = {r: (t if t is not None else ("noise", r)) for r, t in truth.items()}
    both = Counter((pred[r], true[r]) for r in truth)
    right = sum(_pairs(n) for n in both.values())
    p_pairs = sum(_pairs(n) for n in Counter(pred.values()).values())
    t_pairs = sum(_pairs(n) for n in Counter(true.values()).values())
    return PairScore(
        precision=right / p_pairs if p_pairs else 1.0,
        recall=right / t_pairs if t_pairs else 1.0,
        predicted_pairs=p_pairs,
        true_pairs=t_pairs,
        right_pairs=right,
    )


def largest_share(predicted: Mapping[int, Hashable]) -> float:
    """Share of all reports that sit in the largest network."""
    if not predicted:
        return 0.0
    return max(Counter(predicted.values()).values()) / len(predicted)
