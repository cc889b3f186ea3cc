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


def test_a_lane_is_not_held_back_by_a_tick_that_had_work_only_of_another() -> None:
    window = TickWindow(W, lanes=("out", "in"))
    assert window.after_work(10.0, "out") == 0.0
    window.started(10.0)  # it sends a frame
    assert window.after_work(10.02, "in") == pytest.approx(W - 0.02)  # held while it ran
    assert window.finished(10.03, {"out"}) == 0.0  # the status goes at once after all
    assert window.armed_at == 10.03
    window.started(10.03)  # it writes the status
    assert window.finished(10.04, {"in"}) == W
    assert window.after_work(10.05, "out") == pytest.approx(0.08)  # out's own window
    assert window.after_work(10.06, "in") is None  # in's ends later: joins the armed one


def test_a_tick_with_work_only_in_one_lane_leaves_the_others_window_as_it_was() -> None:
    window = TickWindow(W, lanes=("out", "in"))
    window.started(10.0)
    window.finished(10.01, {"in"})  # wrote: in's window runs to 10.11
    window.started(10.05)  # a tick that only took in store changes
    assert window.finished(10.06, ()) is None
    assert window.after_work(10.07, "out") == 0.0  # it held back nothing
    assert window.after_work(10.07, "in") is None  # in's window is still the write's
    assert window.last_busy == {"out": None, "in": 10.01}


def test_ended_and_idle_are_finished_with_every_lane_and_with_none() -> None:
    window = TickWindow(W, lanes=("out", "in"))
    window.started(10.0)
    assert window.ended(10.02) == W
    assert window.last_busy == {"out": 10.02, "in": 10.02}
    window.started(10.2)
    assert window.idle(10.21) is None
    assert window.last_busy == {"out": 10.02, "in": 10.02}


def test_a_window_needs_a_lane() -> None:
    with pytest.raises(ValueError, match="lane"):
        TickWindow(W, lanes=())
