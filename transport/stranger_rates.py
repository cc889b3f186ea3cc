"""How fast an endpoint admits strangers' new connections (pure: the caller passes the time).

Rules (the fields of `StrangerLimits`, transport/stranger_limits.py):
- A source has a bucket of ``source_burst`` tokens refilled at ``source_rate`` a second;
  all sources share one of ``burst`` refilled at ``rate``. An admission takes a token from
  both, a refusal takes none; a source whose own bucket is empty is refused
  (``source_rate``).
- A source also has a share: a bucket of ``share_burst`` tokens refilled at
  ``share_rate``, from which each of its admissions takes a token while it has one. A
  source whose share bucket holds a token is within its share.
- The shared bucket's last ``reserve`` tokens are kept for sources within their share: a
  source past its share is refused (``rate``) when the shared bucket holds fewer than
  ``reserve + 1``, one within its share only when it holds less than one. A few sources
  opening connections as fast as their own buckets allow thus drain the shared bucket down
  to the reserve only, and what refills it below goes to the sources that open few: to keep
  those out, a flood needs ``rate / share_rate`` sources, each within its share. (A
  per-source token bucket alone cannot tell a light source: one that opens exactly
  ``source_rate`` a second keeps its bucket full.) All sources together still get at most
  ``burst`` at once and ``rate`` a second.
- State is bounded: a source's buckets are kept from its first admission until both are
  full again (forgotten at the next prune, one every refill time), so they number at most
  the admissions of ``burst`` plus ``rate`` times twice the longer refill time.
"""

from __future__ import annotations

from dataclasses import dataclass

from transport.stranger_limits import Refusal, StrangerLimits

__all__ = ["StrangerRates", "TokenBucket"]


class TokenBucket:
    """``capacity`` tokens at most, refilled at ``rate`` a second; starts full."""

    __slots__ = ("capacity", "rate", "stamp", "tokens")

    def __init__(self, capacity: int, rate: float, now: float) -> None:
        self.capacity = capacity
        self.rate = rate
        self.tokens = float(capacity)
        self.stamp = now

    def refill(self, now: float) -> float:
        """The tokens there are at ``now``."""
        if now > self.stamp:
            self.tokens = min(float(self.capacity), self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
        return self.tokens

    def take(self) -> None:
        self.tokens -= 1.0

    def full(self, now: float) -> bool:
        return self.refill(now) >= self.capacity


@dataclass(slots=True)
class _SourceBuckets:
    own: TokenBucket  # source_burst, source_rate
    share: TokenBucket  # share_burst, share_rate


class StrangerRates:
    """The token buckets of one endpoint's strangers (the module's rules)."""

    def __init__(self, limits: StrangerLimits) -> None:
        self.limits = limits
        self._sources: dict[str, _SourceBuckets] = {}
        self._shared: TokenBucket | None = None
        self._pruned_at = 0.0
        self._prune_every = max(
            limits.source_burst / limits.source_rate, limits.share_burst / limits.share_rate
        )

    def refusal(self, source: str, now: float) -> Refusal | None:
        """Why a new connection of ``source`` is refused now, or None."""
        limits = self.limits
        buckets = self._sources.get(source)
        if buckets is not None and buckets.own.refill(now) < 1.0:
            return Refusal(
                "source_rate",
                f"more than {limits.source_burst} new connections without a certificate "
                f"from {source} at once, or {limits.source_rate:g} a second",
            )
        within_share = buckets is None or buckets.share.refill(now) >= 1.0
        shared = self._shared_bucket(now).refill(now)
        if within_share and shared < 1.0:
            return Refusal(
                "rate",
                f"more than {limits.burst} new connections without a certificate at once "
                f"from all addresses, or {limits.rate:g} a second",
            )
        if not within_share and shared < 1.0 + limits.reserve:
            return Refusal(
                "rate",
                f"{source} opened more than its share ({limits.share_burst} new connections "
                f"without a certificate at once, {limits.share_rate:g} a second) while all "
                f"addresses opened nearly {limits.burst} at once or {limits.rate:g} a "
                f"second; the last {limits.reserve} are kept for addresses within their share",
            )
        return None

    def take(self, source: str, now: float) -> None:
        """Count an admission of ``source`` (one `refusal` did not refuse)."""
        self._prune(now)
        buckets = self._sources.get(source)
        if buckets is None:
            limits = self.limits
            buckets = self._sources[source] = _SourceBuckets(
                TokenBucket(limits.source_burst, limits.source_rate, now),
                TokenBucket(limits.share_burst, limits.share_rate, now),
            )
        buckets.own.take()
        if buckets.share.refill(now) >= 1.0:
            buckets.share.take()
        self._shared_bucket(now).take()

    def sources(self) -> int:
        """The sources whose buckets are kept."""
        return len(self._sources)

    def _shared_bucket(self, now: float) -> TokenBucket:
        if self._shared is None:
            self._shared = TokenBucket(self.limits.burst, self.limits.rate, now)
        return self._shared

    def _prune(self, now: float) -> None:
        """Forget the sources whose buckets are both full, once per refill time."""
        if now - self._pruned_at < self._prune_every:
            return
        self._pruned_at = now
        for source in [
            s for s, b in self._sources.items() if b.own.full(now) and b.share.full(now)
        ]:
            del self._sources[source]
