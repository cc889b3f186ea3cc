"""Start-up: what a node does before its supervision tree runs (and the keys at rest that
the tree's ``keys`` child keeps following the Cluster object afterwards)."""

__all__: list[str] = []
