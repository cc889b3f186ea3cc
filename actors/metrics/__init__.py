"""Prometheus metrics (issue 11 item 4; DESIGN.md §10): ``swarm-node --metrics-addr``.

One module per subsystem declares what that subsystem reports; the subsystems' shells
(never their pure cores) update them: raft.py, scheduler.py, dispatcher.py,
supervisor.py. Collectors read the rest at scrape time: transport.py (frames, bytes,
refusals), cluster.py (a manager's store: objects by kind, tasks by state, nodes,
services, replicas), node.py (this node's tasks), and raft.py's `RaftCollector` (term,
commit and apply index). http.py serves them (registry.py: the one registry).

Import the modules themselves: this package imports none of them, so a shell that reports
(the supervisor, say) never pulls in the HTTP server.
"""

__all__: list[str] = []
