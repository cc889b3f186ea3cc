"""The dispatcher (leader-only, DESIGN.md §2, §5): worker sessions, heartbeats, assignments
and task status batches.

Pure modules (no zmq, pykka, threading or time): ``heartbeats``, ``assignments``,
``statuses``, ``sessions``, ``core`` (which combines them), ``held_writes`` (writes the
store failed, held for another attempt), ``store_changes`` (what the store's committed
changes mean for it), ``wire`` (message bodies, with ``session_request``,
``status_updates`` and ``tls_report``) and ``frame_packing`` (session frames packed, and
cut to the frame budget where ``frame_parts`` says).
The shell: ``actor.Dispatcher`` (ticks, takes session opens, stops),
``opens.SessionOpener`` (opens a chunk of sessions), ``watch_intake.StoreWatch``
(reads and watches the store), ``notices.SessionNotices`` (credentials, the routing
mesh's table and roles, each in a frame of its own), ``front.DispatcherFront``
(heartbeats on the endpoint's handler threads; status reports queued for
``intake.StatusIntake``, session opens for the actor), ``streams.SessionStreams`` (each
session's frames), ``front.DispatcherLink`` (how the endpoint finds the running
dispatcher's front), ``writer.StoreWriter`` (one store batch per tick; a batch the store
failed is written again), ``stop_steps`` (a stop that does every step, each wait
bounded) and ``handlers.dispatcher_handlers`` (the remote endpoint's table entries).
"""

from actors.dispatcher.actor import Dispatcher
from actors.dispatcher.front import DispatcherLink
from actors.dispatcher.handlers import dispatcher_handlers
from actors.dispatcher.heartbeats import HeartbeatConfig
from actors.dispatcher.wire import ManagerAddress

__all__ = [
    "Dispatcher",
    "DispatcherLink",
    "HeartbeatConfig",
    "ManagerAddress",
    "dispatcher_handlers",
]
