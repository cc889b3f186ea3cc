"""Which manager the next session tries and how long it waits (actors/worker/session.py
`SessionRetry`), as the agent and the fleet's nodes use it."""

from __future__ import annotations

import random

from actors.backoff import Backoff
from actors.dispatcher.wire import ManagerAddress
from actors.worker.session import SESSION_BACKOFF, SessionRetry

M1 = ManagerAddress("tcp://10.0.0.1:4242", b"1" * 40)
M2 = ManagerAddress("tcp://10.0.0.2:4242", b"2" * 40)
STEPS = Backoff(initial=1.0, maximum=8.0)  # no jitter: the delays show the steps


def test_each_failure_moves_on_and_the_backoff_steps_once_per_round() -> None:
    retry = SessionRetry([M1, M2], STEPS, random.Random(1))
    assert retry.rotation.current() == M1
    assert retry.failed() == 1.0 and retry.rotation.current() == M2
    assert retry.failed() == 1.0 and retry.rotation.current() == M1  # one round
    assert retry.failed() == 2.0
    assert retry.failed() == 2.0
    assert retry.failed() == 4.0


def test_a_session_established_starts_the_count_again() -> None:
    retry = SessionRetry([M1], STEPS, random.Random(1))
    assert [retry.failed() for _ in range(3)] == [1.0, 2.0, 4.0]
    retry.opened()
    assert retry.failed() == 1.0


def test_the_delay_is_jittered_with_the_given_rng() -> None:
    delays = [SessionRetry([M1], SESSION_BACKOFF, random.Random(s)).failed() for s in range(8)]
    assert len(set(delays)) > 1 and all(0.05 <= d <= 0.1 for d in delays)


def test_the_list_a_manager_sent_replaces_the_rotation() -> None:
    retry = SessionRetry([M1], STEPS, random.Random(1))
    retry.rotation.update([M2, M1])
    retry.failed()
    assert retry.rotation.current() == M2  # after M1, which stayed current
