"""api/specs.py and api/cluster_specs.py: every spec class has a docstring of its own (a
dataclass without one gets one made with ``inspect.signature`` at import, which each
swarmctl start pays for); api.specs gives the cluster specs' names too."""

from __future__ import annotations

import dataclasses

import pytest

import api.cluster_specs
import api.specs


def test_every_spec_class_has_its_own_docstring() -> None:
    classes = [
        value
        for module in (api.specs, api.cluster_specs)
        for value in vars(module).values()
        if isinstance(value, type)
        and dataclasses.is_dataclass(value)
        and value.__module__ == module.__name__
    ]
    assert len(classes) >= 30
    generated = sorted(
        c.__name__ for c in classes if (c.__doc__ or "").startswith(c.__name__ + "(")
    )
    assert generated == []


def test_the_cluster_specs_are_api_specs_names_too() -> None:
    # imported on first use through api.specs (its module __getattr__), the same classes
    for name in api.cluster_specs.__all__:
        assert name in api.specs.__all__
        assert getattr(api.specs, name) is getattr(api.cluster_specs, name)
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        api.specs.Nope  # noqa: B018
