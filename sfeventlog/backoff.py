"""The drainer's retry delay policy, as a tenacity wait strategy."""

from __future__ import annotations

import random
from collections.abc import Callable

import tenacity
from tenacity.wait import wait_base

BACKOFF_INITIAL = 0.5
BACKOFF_MULTIPLIER = 2.0
BACKOFF_MAX = 30.0


class wait_equal_jitter(wait_base):
    """Exponential backoff with "equal jitter".

    The nominal delay is ``initial * multiplier ** (attempt - 1)`` capped at
    ``maximum``; the actual delay is drawn uniformly from the upper half of
    it.  Half-range jitter keeps delays growing while spreading nodes that
    failed together, even once they all sit at the cap.
    """

    def __init__(
        self,
        initial: float = BACKOFF_INITIAL,
        multiplier: float = BACKOFF_MULTIPLIER,
        maximum: float = BACKOFF_MAX,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.nominal = tenacity.wait_exponential(multiplier=initial, exp_base=multiplier, max=maximum)
        self.rng = rng

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        nominal = float(self.nominal(retry_state))
        return nominal / 2 + self.rng() * nominal / 2
