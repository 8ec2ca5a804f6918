"""Per-socket token buckets: what one socket may send, kept in process (a socket lives on one node)."""

from __future__ import annotations

import time


class SocketBudget:
    """A token bucket per socket: `burst` events at once, refilled at `rate` per second."""

    def __init__(self, burst: int, rate: float) -> None:
        self.burst, self.rate = burst, rate
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, sid: str) -> float:
        """Spend one; returns 0, or the seconds to wait when the budget is empty."""
        now = time.monotonic()
        tokens, last = self._buckets.get(sid, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens < 1:
            self._buckets[sid] = (tokens, now)
            return (1 - tokens) / self.rate
        self._buckets[sid] = (tokens - 1, now)
        return 0.0

    def forget(self, sid: str) -> None:
        """Drop a socket that has gone."""
        self._buckets.pop(sid, None)

    def __len__(self) -> int:
        return len(self._buckets)
