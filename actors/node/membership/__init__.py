"""Membership policy: managers joining Raft, and the leader keeping roles and membership.

- join.py: a new (or promoted) manager asks the leader to add it to Raft (``raft.join``)
  and keeps asking until it is a member; the leader's handler adds it as a learner.
- plan.py: the leader's policy as a pure planner: ``manager_status`` follows Raft, a
  caught-up learner becomes a voter, and role changes move one Raft change at a time.
- keeper.py: the thin periodic job that carries the plans out.
- roles.py: the role rules the node follows (the leader's step, the renewer's aim, when
  the node restarts in another role); the CA's and the control API's are in api/roles.py.

A role change end to end: the control API records ``spec.desired_role`` after its own
safety check (api/roles.py `check_demotion`). *Demote*: if the node is the leader it
first hands leadership to the most caught-up reachable voter; the new leader proposes
``REMOVE``; once the node is out of the configuration its ``role`` becomes worker (so
authorization refuses it Raft) and its ``manager_status`` is cleared. *Promote* (any
worker, whether it joined as one or was demoted): the leader sets ``role`` to manager at
once; no membership change yet. The node follows (actors/node/tree/,
actors/node/runner.py): its dispatcher session names the Node's role on the stream as soon
as it changed (and in each heartbeat reply); when it differs from the certificate's the
node renews at once, and the CA issues the role `issued_role` allows (a manager
certificate only when the desired role is manager; none while a demotion is under way,
worker once the node has left Raft). A certificate of the other role restarts the node's
parts in place: a demoted manager stops Raft, the leader group, the remote and hello
endpoints and the full control API, removes its Raft data and continues as a worker with
the manager list its sessions sent; a promoted worker starts the manager's parts with an
empty Raft log and joins through ``raft.join`` under a new Raft id, as a learner promoted
when caught up (exactly as a manager-token joiner).
"""

__all__: list[str] = []
