"""Control API: configs (``control.config.create|ls|inspect|rm``). Unlike a secret's, a
config's data is shown by ``inspect`` (actors/control/file_objects.py has the rules)."""

from __future__ import annotations

from actors.control.file_objects import FileKind, FileObjectControl
from actors.store import MemoryStore
from api.ids import RandomBits
from api.objects import Config, ObjectKind, Service
from api.secret_validation import validate_config_spec
from api.specs import ConfigSpec

__all__ = ["CONFIGS", "ConfigControl"]


def _referenced(service: Service) -> frozenset[str]:
    return frozenset(r.config_id for r in service.spec.task.container.configs)


CONFIGS = FileKind(
    kind=ObjectKind.CONFIG,
    cls=Config,
    spec_cls=ConfigSpec,
    validate=validate_config_spec,
    shows_data=True,
    referenced=_referenced,
)


class ConfigControl(FileObjectControl):
    def __init__(self, store: MemoryStore, *, rng: RandomBits | None = None) -> None:
        super().__init__(store, CONFIGS, rng=rng)
