"""Who a dispatcher call speaks for: the node its caller's certificate names, never its body.

Rules (DESIGN.md §7):
- The caller's node is the one the cluster's CA issued the certificate of its CURVE key to
  (the endpoint looks it up; its authorization has already checked the certificate is
  live). Every dispatcher call (session, heartbeat, status, and any stream added later)
  acts for that node only.
- A body that names another node, or a call from a key without a certificate, is refused
  ``unauthorized``; the shell logs it (``dispatcher.call.unauthorized``).
- A session never creates a Node: Nodes exist because the CA issued a certificate at join
  (or the founding manager registered itself). A session for a node the store does not
  hold (never joined, or removed) is refused ``unauthorized``.
"""

from __future__ import annotations

from typing import Final

from api.objects import Node

__all__ = ["UNAUTHORIZED", "check_caller", "check_session_node"]

UNAUTHORIZED: Final = "unauthorized"


def check_caller(named: str, certified: str | None) -> str | None:
    """None when a call whose body names node ``named`` may go on for a caller whose
    certificate is node ``certified``'s (None: no certificate); else why not."""
    if certified is None:
        return "dispatcher calls need a node certificate; this key has none"
    if named != certified:
        return (
            f"this key's certificate is node {certified}'s: it cannot speak for node {named[:64]}"
        )
    return None


def check_session_node(node_id: str, node: Node | None) -> str | None:
    """None when a session may open for ``node_id`` (``node``: as the store holds it)."""
    if node is None:
        return f"node {node_id} is not in the cluster (never joined, or removed)"
    return None
