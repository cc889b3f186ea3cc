"""Control API of autolock: ``control.unlock``, ``control.cluster.unlock_key`` and the
``autolock`` setting of ``control.cluster.update``.

As in SwarmKit (manager/encryption, controlapi ``GetUnlockKey``), the unlock key lives in
the replicated store's Cluster object (``Cluster.unlock_key``), so every manager can
rewrap its own keys when it changes (`actors.node.startup.rekey.KeyRewrapper`). Switching autolock
on creates a key (kept if one is already set), switching it off clears it, ``--rotate``
replaces it. Unlock keys appear in replies only, never in logs.

A locked manager serves `locked_handlers`: ``control.unlock`` tries the key; every other
control request is refused with code ``locked`` and one line (`LOCKED_MESSAGE`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Final

from actors.ca.encryption import (
    InvalidUnlockKey,
    MalformedUnlockKey,
    UnlockKey,
    new_unlock_key,
)
from actors.control.errors import Body, ControlCode, ControlError, guarded
from actors.control.views import cluster_document
from actors.store import MemoryStore, WriteTx, clusters
from api.objects import Cluster
from api.schema.registry import registered
from transport.endpoint import Handler, Request

__all__ = [
    "INVALID_UNLOCK_KEY",
    "LOCKED_CODE",
    "LOCKED_MESSAGE",
    "UnlockControl",
    "locked_handlers",
    "set_autolock",
    "unlock_handlers",
]

LOCKED_CODE: Final = "locked"
LOCKED_MESSAGE: Final = "this node is locked: run swarmctl unlock"
INVALID_UNLOCK_KEY: Final = "invalid_unlock_key"

Attempt = Callable[[str], None]
"""Tries an unlock key (text); raises `InvalidUnlockKey` or `MalformedUnlockKey`."""


def _unlock_key_text(cluster: Cluster) -> str:
    return str(UnlockKey(cluster.unlock_key)) if cluster.unlock_key else ""


def set_autolock(
    tx: WriteTx, enabled: bool, *, make_key: Callable[[], UnlockKey] = new_unlock_key
) -> Cluster:
    """Switch autolock on (keeping an existing key) or off (clearing the key)."""
    cluster = clusters.get_default(tx)
    if cluster is None:
        raise ControlError(ControlCode.UNAVAILABLE, "the cluster is not initialized yet")
    encryption = replace(cluster.spec.encryption_config, auto_lock_managers=enabled)
    key = cluster.unlock_key
    if enabled and not key:
        key = make_key().key
    elif not enabled:
        key = b""
    updated = replace(cluster, spec=replace(cluster.spec, encryption_config=encryption))
    updated = replace(updated, unlock_key=key)
    if updated != cluster:
        tx.update(updated)
    return updated


class UnlockControl:
    """The unlock-key handlers of an unlocked manager."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def unlock_key(self, body: Body) -> Body:
        if body.get("rotate"):

            def rotate(tx: WriteTx) -> Cluster:
                cluster = clusters.get_default(tx)
                if cluster is None:
                    raise ControlError(ControlCode.UNAVAILABLE, "the cluster is not initialized")
                if not cluster.spec.encryption_config.auto_lock_managers:
                    raise ControlError(
                        ControlCode.INVALID_ARGUMENT,
                        "autolock is not enabled: run swarmctl cluster update --autolock=true",
                    )
                updated = replace(cluster, unlock_key=new_unlock_key().key)
                tx.update(updated)
                return updated

            cluster = self._store.update(rotate).value
        else:
            found = self._store.view(clusters.get_default)
            if found is None:
                raise ControlError(ControlCode.UNAVAILABLE, "the cluster is not initialized yet")
            cluster = found
        if not cluster.spec.encryption_config.auto_lock_managers or not cluster.unlock_key:
            raise ControlError(
                ControlCode.NOT_FOUND,
                "no unlock key is set: autolock is off (swarmctl cluster update --autolock=true)",
            )
        return {"unlock_key": _unlock_key_text(cluster)}

    def autolock(self, enabled: bool) -> Body:
        cluster = self._store.update(lambda tx: set_autolock(tx, enabled)).value
        reply: dict[str, Any] = {"cluster": cluster_document(cluster)}
        if enabled:
            reply["unlock_key"] = _unlock_key_text(cluster)
        return reply

    def unlock(self, _body: Body) -> Body:
        raise ControlError(ControlCode.INVALID_ARGUMENT, "this node is not locked")


def with_autolock(update: Handler | None, control: UnlockControl) -> Handler:
    """``control.cluster.update`` taking ``autolock`` too: the other settings go to
    ``update`` (the cluster settings handler), then autolock is switched."""

    def handler(request: Request) -> Mapping[str, Any] | None:
        body = request.body
        if "autolock" not in body:
            if update is None:
                request.error(ControlCode.INVALID_ARGUMENT, "nothing to update: give a setting")
                return None
            return update(request)
        enabled = bool(body["autolock"])
        rest = {k: v for k, v in body.items() if k != "autolock"}
        if rest:
            if update is None:
                request.error(ControlCode.INVALID_ARGUMENT, "this manager cannot update settings")
                return None
            request.body = rest
            reply = update(request)
            request.body = body
            if reply is None:
                return None  # refused: the error is sent, autolock unchanged
        return guarded(lambda _b: control.autolock(enabled))(request)

    return handler


def unlock_handlers(store: MemoryStore, update: Handler | None = None) -> dict[str, Handler]:
    """An unlocked manager's ``control.unlock`` (refused: not locked),
    ``control.cluster.unlock_key`` and ``control.cluster.update`` with ``autolock``
    (``update`` is the settings handler it extends)."""
    control = UnlockControl(store)
    return {
        "control.unlock": guarded(control.unlock),
        "control.cluster.unlock_key": guarded(control.unlock_key),
        "control.cluster.update": with_autolock(update, control),
    }


def locked_handlers(attempt: Attempt) -> dict[str, Handler]:
    """A locked manager's control table: unlock, and a one-line refusal for the rest."""

    def unlock(body: Body) -> Body:
        try:
            attempt(str(body.get("unlock_key") or ""))
        except MalformedUnlockKey as exc:
            raise ControlError(INVALID_UNLOCK_KEY, f"invalid unlock key: {exc}") from None
        except InvalidUnlockKey:
            raise ControlError(INVALID_UNLOCK_KEY, "invalid unlock key") from None
        return {"unlocked": True}

    def refuse(_body: Body) -> Body:
        raise ControlError(LOCKED_CODE, LOCKED_MESSAGE)

    table: dict[str, Handler] = {
        name: guarded(refuse)
        for name, kind in registered().items()
        if name.startswith("control.") and getattr(kind, "reply", None)
    }
    table["control.unlock"] = guarded(unlock)
    return table
