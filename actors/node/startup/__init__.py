"""Start-up: what a node does before its supervision tree runs."""

__all__: list[str] = []
