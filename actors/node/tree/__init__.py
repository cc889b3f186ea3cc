"""The supervision tree: the parts a node runs and the endpoints it serves."""

__all__: list[str] = []
