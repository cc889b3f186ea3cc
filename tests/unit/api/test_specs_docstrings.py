"""api/specs.py: every spec class has a docstring of its own (a dataclass without one gets
one made with ``inspect.signature`` at import, which each swarmctl start pays for)."""

from __future__ import annotations

import dataclasses

import api.specs


def test_every_spec_class_has_its_own_docstring() -> None:
    classes = [
        value
        for value in vars(api.specs).values()
        if isinstance(value, type)
        and dataclasses.is_dataclass(value)
        and value.__module__ == api.specs.__name__
    ]
    assert len(classes) >= 30
    generated = sorted(
        c.__name__ for c in classes if (c.__doc__ or "").startswith(c.__name__ + "(")
    )
    assert generated == []
