"""A node's life, in three parts, run by `runner.NodeRunner` from a `config.NodeConfig`:

    startup/     before the tree runs: the state dir (lock, identity, Raft id), the node's
                 place in the cluster (init, join, resume: security.py), the keys at rest
                 (keys.py, at_rest.py, rekey.py; a locked manager waits in locked.py),
                 ``--force-new-cluster``
    tree/        the supervision tree: `Node` (a root Supervisor) over the parts of the
                 certificate's role, `ManagerParts` or `WorkerParts` (both run the shared
                 worker, agent and renewer), the leader-only group, the manager directory,
                 the host's description, the endpoints and their tables
    membership/  the policy: managers joining Raft (join.py), the leader's pure planner
                 (plan.py) and the thin job that carries it out (keeper.py), role rules

Lower packages never import this one (tests/unit/node/test_layering.py); the role rules
the CA and the control API share are in api/roles.py.
"""

__all__: list[str] = []
