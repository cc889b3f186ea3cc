"""Where a frame over the budget is cut (actors/dispatcher/frame_parts.py): sizes only."""

from __future__ import annotations

from actors.dispatcher.frame_parts import Item, PartPlan, plan_parts


def covered(plans: list[PartPlan]) -> list[int]:
    return [i for p in plans for i in range(p.start, p.stop)]


def test_a_frame_that_fits_is_one_part_with_everything() -> None:
    items = [Item(10, ("n1",)), Item(10, ("a1",)), Item(10)]
    plans = plan_parts(100, items, {"n1": 5, "a1": 7, "unused": 3}, budget=1000)
    assert plans == [PartPlan(0, 3, ("unused", "n1", "a1"), 100 + 3 + 30 + 5 + 7)]


def test_a_frame_far_over_the_budget_is_cut_in_order_each_part_within_it() -> None:
    items = [Item(100 + i % 7) for i in range(10_000)]
    plans = plan_parts(500, items, {}, budget=4096)
    assert covered(plans) == list(range(10_000))  # every item once, in order
    assert all(p.size <= 4096 for p in plans)
    assert [p.size for p in plans] == [
        (500 if i == 0 else 0) + sum(items[j].size for j in range(p.start, p.stop))
        for i, p in enumerate(plans)
    ]
    # each part is full: the next item would not have fitted
    assert all(p.size + items[p.stop].size > 4096 for p in plans[:-1])
    assert len(plans) > 200


def test_each_part_carries_the_shared_pieces_its_items_need_once() -> None:
    items = [Item(40, ("net",)), Item(40, ("net", "auth")), Item(40), Item(40, ("net",))]
    plans = plan_parts(0, items, {"net": 20, "auth": 10}, budget=100)
    assert [(p.start, p.stop, p.shared, p.size) for p in plans] == [
        (0, 1, ("net",), 40 + 20),  # the next item, with its credentials, would pass 100
        (1, 2, ("net", "auth"), 40 + 20 + 10),
        (2, 4, ("net",), 40 + 40 + 20),  # the network again: its own item needs it here
    ]


def test_a_lone_item_over_the_budget_goes_alone() -> None:
    plans = plan_parts(0, [Item(10), Item(500), Item(10)], {}, budget=100)
    assert [(p.start, p.stop, p.size) for p in plans] == [(0, 1, 10), (1, 2, 500), (2, 3, 10)]


def test_a_head_that_leaves_no_room_goes_in_a_part_of_its_own() -> None:
    plans = plan_parts(90, [Item(20), Item(20)], {}, budget=100)
    assert [(p.start, p.stop, p.size) for p in plans] == [(0, 0, 90), (0, 2, 40)]


def test_no_items_is_one_part_with_the_head() -> None:
    assert plan_parts(30, [], {"auth": 10}, budget=5) == [PartPlan(0, 0, ("auth",), 40)]
