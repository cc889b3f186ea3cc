"""TickWindow, the batching rule StoreReactor's shells and the dispatcher share: the first
work after a quiet period ticks at once, work close behind a tick with work joins one
tick a window after it, and a tick that found no work holds nothing back."""

from __future__ import annotations

import pytest

from actors.tick_window import TickWindow

W = 0.1


def test_the_first_work_ticks_at_once() -> None:
    window = TickWindow(W)
    assert window.after_work(10.0) == 0.0
    assert window.after_work(10.0) is None  # the armed tick takes it too


def test_work_during_and_after_a_tick_joins_one_tick_a_window_later() -> None:
    window = TickWindow(W)
    window.after_work(10.0)
    window.started(10.0)
    assert window.after_work(10.02) == pytest.approx(W - 0.02)  # came while it ran
    assert window.after_work(10.05) is None  # joins the armed one
    assert window.at(10.06, W) is None  # so does a periodic tick asked for later


def test_an_earlier_request_replaces_the_armed_tick() -> None:
    window = TickWindow(W)
    assert window.at(10.0, W) == W  # the periodic tick
    assert window.after_work(10.01) == 0.0  # quiet: work does not wait for it
    assert window.armed_at == 10.01


def test_work_after_a_quiet_window_ticks_at_once_again() -> None:
    window = TickWindow(W)
    window.started(10.0)
    assert window.after_work(10.0 + W) == 0.0


def test_a_tick_that_found_no_work_holds_nothing_back() -> None:
    window = TickWindow(W)
    window.started(10.0)
    assert window.idle(10.0) is None
    assert window.after_work(10.01) == 0.0
    window.started(10.01)  # that tick had work
    window.started(10.05)  # a periodic tick that finds none
    assert window.idle(10.05) is None
    assert window.after_work(10.06) == pytest.approx(0.05)  # the window of the one with work


def test_work_that_came_during_a_tick_that_found_none_is_asked_for_again() -> None:
    window = TickWindow(W)
    window.started(10.0)
    assert window.after_work(10.001) == pytest.approx(W - 0.001)  # held back while it ran
    assert window.idle(10.002) == 0.0  # it had none after all: that work goes at once
    assert window.armed_at == 10.002


def test_a_tick_with_work_puts_the_next_one_off_to_a_window_after_its_end() -> None:
    window = TickWindow(W)
    window.started(10.0)
    assert window.after_work(10.02) == pytest.approx(W - 0.02)  # came while it ran
    assert window.ended(10.3) == W  # it ran long: the one armed meanwhile is put off
    assert window.armed_at == pytest.approx(10.3 + W)
    assert window.after_work(10.35) is None


@pytest.mark.parametrize("window", [0.0, -1.0])
def test_the_window_must_be_positive(window: float) -> None:
    with pytest.raises(ValueError, match="tick window"):
        TickWindow(window)
