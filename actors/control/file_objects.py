"""Control API: the objects that become files in a task's container, secrets and configs
(create, ls, inspect, rm), one class for both, told apart by a `FileKind`.

Rules (Docker's ``docker secret`` / ``docker config``):
- Names are unique per kind (the store's index says so, atomically); specs are validated
  (api/secret_validation.py) before anything is written. Objects are immutable: rotate a
  secret by creating a new one (README); ``update`` changes labels only (Docker's rule),
  and refuses other data.
- A secret's data never leaves the store through this API: ``ls`` rows and ``inspect``
  documents carry no ``data`` (``FileKind.shows_data`` is false). A config's ``inspect``
  shows it.
- ``rm`` resolves every reference first and removes nothing when one is in use: an object
  referenced by a live service's spec is refused with code ``in_use``, naming the
  services. A service being removed holds none (Docker deletes the service at once and
  checks services only): its tasks still running keep the files they were given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from actors.control.errors import Body, ControlCode, ControlError
from actors.control.writes import check_version, modify
from actors.store import MemoryStore, ReadTx, WriteTx, services
from api.codec_objects import decode, encode_object
from api.ids import RandomBits, new_id
from api.objects import Config, ObjectKind, Secret, Service
from api.specs import ConfigSpec, SecretSpec

__all__ = ["FileKind", "FileObjectControl", "users_of"]

FileObject = Secret | Config


@dataclass(frozen=True)
class FileKind:
    kind: ObjectKind  # SECRET or CONFIG: its value names the request fields
    cls: type[Secret] | type[Config]
    spec_cls: type[SecretSpec] | type[ConfigSpec]
    validate: Callable[[Any], None]
    shows_data: bool
    referenced: Callable[[Service], frozenset[str]]  # the ids a service's spec references

    @property
    def name(self) -> str:
        return self.kind.value


def users_of(kind: FileKind, tx: ReadTx, object_id: str) -> list[Service]:
    """The live services whose spec references ``object_id``, by name."""
    found = [
        s for s in services.list_all(tx) if not s.pending_delete and object_id in kind.referenced(s)
    ]
    return sorted(found, key=lambda s: s.spec.name)


class FileObjectControl:
    def __init__(
        self, store: MemoryStore, kind: FileKind, *, rng: RandomBits | None = None
    ) -> None:
        self._store = store
        self._kind = kind
        self._rng = rng

    def _lookup(self, tx: ReadTx, ref: str) -> FileObject:
        obj = tx.lookup(self._kind.kind, ref)
        assert isinstance(obj, Secret | Config)
        return obj

    def row(self, obj: FileObject) -> dict[str, Any]:
        """``{id, name, labels, templating, created_at, updated_at, version}``: never
        the data."""
        return {
            "id": obj.id,
            "name": obj.spec.name,
            "labels": dict(obj.spec.labels),
            "templating": obj.spec.templating,
            "created_at": obj.meta.created_at,
            "updated_at": obj.meta.updated_at,
            "version": obj.meta.version,
        }

    def document(self, obj: FileObject) -> dict[str, Any]:
        """The object as the codec encodes it; a secret's without its data."""
        doc = encode_object(obj)
        if not self._kind.shows_data:
            doc["spec"] = {k: v for k, v in doc["spec"].items() if k != "data"}
        return doc

    # -- writes ------------------------------------------------------------------------

    def create(self, body: Body) -> Body:
        kind = self._kind
        spec = decode(kind.spec_cls, body["spec"], "spec", strict=True)
        kind.validate(spec)
        object_id = new_id(self._rng) if self._rng is not None else new_id()
        obj = kind.cls(id=object_id, spec=spec)  # type: ignore[arg-type]  # cls takes spec_cls

        def write(tx: WriteTx) -> None:
            holder = tx.find(kind.kind, "name", spec.name.lower())
            if holder:
                raise ControlError(
                    ControlCode.NAME_CONFLICT,
                    f"{kind.name} name {spec.name!r} is already in use by {kind.name} "
                    f"{holder[0].id}",
                )
            tx.create(obj)

        committed = self._store.update(write)
        stored = committed.objects[0] if committed.objects else obj
        assert isinstance(stored, Secret | Config)
        return {"id": stored.id, kind.name: self.row(stored)}

    def update(self, body: Body) -> Body:
        """New labels at the version read; the name and the data never change (Docker's
        rule: only updates to labels are allowed)."""
        kind = self._kind
        labels = {str(k): str(v) for k, v in dict(body["labels"]).items()}
        data = body.get("data")

        def write(tx: WriteTx) -> FileObject:
            obj = self._lookup(tx, str(body[kind.name]))
            check_version(kind.name, obj.id, int(body["version"]), obj.meta.version)
            if data is not None and bytes(data) != obj.spec.data:
                raise ControlError(
                    ControlCode.INVALID_ARGUMENT,
                    f"only updates to labels are allowed: {kind.name} {obj.spec.name!r} "
                    "holds other data (create a new one to rotate it)",
                )
            spec = replace(obj.spec, labels=labels)
            kind.validate(spec)
            if spec != obj.spec:
                tx.update(replace(obj, spec=spec))  # type: ignore[arg-type]  # spec_cls
            return obj

        object_id = modify(self._store, write).value.id
        stored = self._store.view(lambda tx: self._lookup(tx, object_id))  # as committed
        return {"id": object_id, kind.name: self.row(stored)}

    def rm(self, body: Body) -> Body:
        kind = self._kind
        refs = [str(r) for r in body[f"{kind.name}s"]]
        if not refs:
            raise ControlError(ControlCode.INVALID_ARGUMENT, f"no {kind.name} named")

        def write(tx: WriteTx) -> list[str]:
            found: dict[str, FileObject] = {}
            for ref in refs:  # all, before any write
                obj = self._lookup(tx, ref)
                found[obj.id] = obj
            busy = []
            for obj in found.values():
                users = users_of(kind, tx, obj.id)
                if users:
                    names = ", ".join(s.spec.name for s in users)
                    plural = "services" if len(users) > 1 else "service"
                    busy.append(f"{kind.name} {obj.spec.name!r} is in use by {plural} {names}")
            if busy:  # of several named, none goes (one named: its refusal says it all)
                done = ": nothing removed" if len(found) > 1 else ""
                raise ControlError(ControlCode.IN_USE, "; ".join(busy) + done)
            for obj in found.values():
                tx.delete(obj)
            return list(found)

        return {"removed": modify(self._store, write).value}

    # -- reads -------------------------------------------------------------------------

    def ls(self, body: Body) -> Body:
        def read(tx: ReadTx) -> list[dict[str, Any]]:
            objects = tx.list_objects(self._kind.kind)
            rows = [self.row(o) for o in objects if isinstance(o, Secret | Config)]
            return sorted(rows, key=lambda r: str(r["name"]))

        return {f"{self._kind.name}s": self._store.view(read)}

    def inspect(self, body: Body) -> Body:
        name = self._kind.name

        def read(tx: ReadTx) -> Body:
            return {name: self.document(self._lookup(tx, str(body[name])))}

        return self._store.view(read)
