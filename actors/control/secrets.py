"""Control API: secrets (``control.secret.create|ls|inspect|rm``). A secret's data is never
in a reply (actors/control/file_objects.py has the rules)."""

from __future__ import annotations

from actors.control.file_objects import FileKind, FileObjectControl
from actors.store import MemoryStore
from api.ids import RandomBits
from api.objects import ObjectKind, Secret, Service
from api.secret_validation import validate_secret_spec
from api.specs import SecretSpec

__all__ = ["SECRETS", "SecretControl"]


def _referenced(service: Service) -> frozenset[str]:
    return frozenset(r.secret_id for r in service.spec.task.container.secrets)


SECRETS = FileKind(
    kind=ObjectKind.SECRET,
    cls=Secret,
    spec_cls=SecretSpec,
    validate=validate_secret_spec,
    shows_data=False,
    referenced=_referenced,
)


class SecretControl(FileObjectControl):
    def __init__(self, store: MemoryStore, *, rng: RandomBits | None = None) -> None:
        super().__init__(store, SECRETS, rng=rng)
