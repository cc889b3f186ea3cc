"""Logs (DESIGN.md §10): the leader's log broker (broker.py over broker_core.py), the
nodes' publishers, the endpoints' log handlers and the wire bodies of log messages."""

__all__: list[str] = []
