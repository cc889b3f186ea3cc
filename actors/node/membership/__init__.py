"""Membership policy: managers joining Raft, and the leader keeping roles and membership."""

__all__: list[str] = []
