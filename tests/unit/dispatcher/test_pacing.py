"""The dispatcher's window after a tick of many frames (actors/dispatcher/pacing.py)."""

from __future__ import annotations

import pytest

from actors.dispatcher.pacing import BUSY_FRAMES, LONGEST_WINDOW, next_window


@pytest.mark.parametrize("frames", [0, 1, BUSY_FRAMES - 1])
def test_a_tick_of_few_frames_leaves_the_window_as_it_is(frames: int) -> None:
    assert next_window(0.1, frames) == 0.1


def test_a_tick_of_many_frames_stretches_the_next_window_in_proportion() -> None:
    assert next_window(0.1, BUSY_FRAMES) == pytest.approx(0.1)
    assert next_window(0.1, 3 * BUSY_FRAMES) == pytest.approx(0.3)


def test_the_stretch_has_a_ceiling_and_never_shortens_a_long_interval() -> None:
    assert next_window(0.1, 1000 * BUSY_FRAMES) == LONGEST_WINDOW
    assert next_window(2.0, 1000 * BUSY_FRAMES) == 2.0
