from __future__ import annotations

import random

from api.ids import ID_LENGTH, is_valid_id, new_id


def test_ids_are_25_base36_characters() -> None:
    for _ in range(200):
        assert is_valid_id(new_id())


def test_injected_random_source_is_deterministic() -> None:
    assert new_id(random.Random(7)) == new_id(random.Random(7))
    assert new_id(random.Random(7)) != new_id(random.Random(8))


def test_small_values_are_padded() -> None:
    class Zero:
        def getrandbits(self, k: int, /) -> int:
            return 35

    assert new_id(Zero()) == "0" * (ID_LENGTH - 1) + "z"
