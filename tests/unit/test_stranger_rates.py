"""How fast strangers' connections are admitted (transport/stranger_rates.py): pure, time
passed in."""

from __future__ import annotations

import pytest

from transport.stranger_limits import StrangerLimits
from transport.stranger_rates import StrangerRates, TokenBucket

LIMITS = StrangerLimits(
    source_rate=100.0,
    source_burst=100,
    rate=10.0,
    burst=10,
    share_rate=1.0,
    share_burst=2,
    reserve=4,
)


def admit(rates: StrangerRates, source: str, now: float) -> str | None:
    """The refusal's code, or None (admitted: its tokens taken)."""
    refusal = rates.refusal(source, now)
    if refusal is None:
        rates.take(source, now)
        return None
    return refusal.code


def test_a_bucket_refills_at_its_rate_up_to_its_capacity() -> None:
    bucket = TokenBucket(2, 4.0, now=0.0)
    bucket.take()
    bucket.take()
    assert bucket.refill(0.0) == 0.0
    assert bucket.refill(0.125) == 0.5
    assert not bucket.full(0.25)
    assert bucket.refill(100.0) == 2.0 and bucket.full(100.0)


def test_a_source_past_its_share_leaves_the_reserve_to_sources_within_theirs() -> None:
    rates = StrangerRates(LIMITS)
    # a heavy source: its share (2), then the shared bucket down to the reserve (4)
    codes = [admit(rates, "10.0.0.1", 0.0) for _ in range(8)]
    assert codes == [None] * 6 + ["rate", "rate"]
    refusal = rates.refusal("10.0.0.1", 0.0)
    assert refusal is not None
    assert "10.0.0.1 opened more than its share" in refusal.reason
    assert "the last 4 are kept" in refusal.reason
    # each other source takes its share from the reserve
    assert [admit(rates, "10.0.0.2", 0.0) for _ in range(3)] == [None, None, "rate"]
    assert [admit(rates, "10.0.0.3", 0.0) for _ in range(3)] == [None, None, "rate"]
    # the shared bucket is empty: even a source within its share waits for its refill
    refusal = rates.refusal("10.0.0.4", 0.0)
    assert refusal is not None and refusal.code == "rate"
    assert "more than 10 new connections without a certificate at once" in refusal.reason
    assert admit(rates, "10.0.0.4", 0.1) is None  # one token refilled


def test_the_refill_below_the_reserve_goes_to_sources_within_their_share() -> None:
    """A heavy source tries all the time: it gets the tokens above the reserve only, and a
    light one, asking once a second, always gets in."""
    rates = StrangerRates(LIMITS)
    heavy = light = 0
    for tick in range(10_000):  # 10 s, a try every millisecond
        now = tick / 1000
        heavy += admit(rates, "10.0.0.1", now) is None
        if tick % 1000 == 500:
            assert admit(rates, "10.0.0.2", now) is None
            light += 1
    assert light == 10
    assert heavy + light <= LIMITS.burst + LIMITS.rate * 10  # all sources' rate holds
    assert heavy >= LIMITS.burst - LIMITS.reserve + LIMITS.rate * 10 - light - 1


def test_a_source_is_within_its_share_again_once_its_share_refilled() -> None:
    rates = StrangerRates(StrangerLimits(rate=1e3, burst=1000, share_rate=1.0, share_burst=2))
    for _ in range(3):
        rates.take("10.0.0.1", 0.0)
    assert rates._sources["10.0.0.1"].share.refill(0.0) == 0.0  # past its share
    assert rates._sources["10.0.0.1"].share.refill(1.0) == 1.0  # within it again


def test_a_source_has_its_own_rate() -> None:
    rates = StrangerRates(StrangerLimits(source_rate=1.0, source_burst=2, rate=1e3, burst=1000))
    assert [admit(rates, "10.0.0.1", 0.0) for _ in range(3)] == [None, None, "source_rate"]
    assert admit(rates, "10.0.0.2", 0.0) is None
    assert admit(rates, "10.0.0.1", 1.0) is None


def test_sources_whose_buckets_refilled_are_forgotten() -> None:
    rates = StrangerRates(LIMITS)
    for i in range(5):
        rates.take(f"10.0.0.{i}", 0.0)
    assert rates.sources() == 5
    refill = max(LIMITS.source_burst / LIMITS.source_rate, LIMITS.share_burst / LIMITS.share_rate)
    rates.take("10.0.1.1", refill + 0.5)
    assert rates.sources() == 1


@pytest.mark.parametrize(
    "bad",
    [
        {"share_rate": 0.0},
        {"share_burst": 0},
        {"reserve": -1},
        {"reserve": 800},  # the whole shared bucket: no source past its share ever admitted
    ],
)
def test_the_share_and_the_reserve_are_checked(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="stranger limits"):
        StrangerLimits(**bad)  # type: ignore[arg-type]
