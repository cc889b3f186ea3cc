"""A node's life: start-up (startup/), the supervision tree (tree/) and membership policy
(membership/). Lower packages never import this one (tests/unit/node/test_layering.py)."""

__all__: list[str] = []
