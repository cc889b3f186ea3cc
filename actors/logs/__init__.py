"""Logs (DESIGN.md §10): tasks' output and nodes' own log events, streamed to ``swarmctl``.

- On the leader: the log broker (broker.py, a shell over the pure broker_core.py) holds
  subscriptions, tells nodes of those that concern them and fans what they publish out to
  readers; the endpoints' entries are in handlers.py, a follower's way to it in relay.py.
- On every node: the publisher (publisher.py) listens to the broker and publishes each
  subscription (publishing.py): its tasks' output as reads.py plans it, or its own log
  events from its ring (node_ring.py, filtered by node_events.py).
- wire.py: the bodies of the ``logs.*`` messages (api/schema/logs.py) and their bounds.
"""

__all__: list[str] = []
