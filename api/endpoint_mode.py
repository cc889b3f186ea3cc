"""A service's endpoint mode: ``--endpoint-mode vip|dnsrr`` (``service create`` and
``update``), compose ``deploy.endpoint_mode``, the Engine API's ``EndpointSpec.Mode``.

What the modes mean here. swarmnode has no virtual IP (no IPVS, no overlay): a task
answers on each of its networks to its service's name, and the node's engine DNS answers
that name with the address of every task of the service on that node and network,
shuffled (actors/worker/executors/docker_config.py). That is Docker's ``dnsrr``. Docker's
``vip`` (its default) gives the name one virtual IP that balances connections; here a
``vip`` service's name resolves to its tasks' addresses all the same. So the mode
decides only what SwarmKit ties to it: a ``dnsrr`` service publishes no port through the
routing mesh (``ingress``), only on the nodes that run its tasks (``mode=host``).

Rules, as Docker's:
- ``vip`` or ``dnsrr``; anything else is refused in dockerd's words,
  ``invalid resolution mode: "x"``. The flag and the compose key take either case (the
  docker CLI lowercases them); the Engine API takes them as dockerd does, lower-case.
- an ingress port with ``dnsrr`` is refused in SwarmKit's words (checked on the whole
  spec, so ``service update --endpoint-mode dnsrr`` of a service with one is refused too,
  and so is ``--publish-add`` of one to a dnsrr service).
- Changing the mode replaces no task: nothing in a task's container depends on it here.

Pure: errors are ``InvalidSpec`` naming the flag or field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Final

from api.enums import EndpointMode, PublishMode
from api.spec_limits import InvalidSpec
from api.specs import EndpointSpec, ServiceSpec

__all__ = [
    "ENDPOINT_OPTION_TYPES",
    "INGRESS_WITH_DNSRR",
    "apply_endpoint_options",
    "invalid_mode",
    "parse_endpoint_mode",
    "validate_endpoint_mode",
]

# SwarmKit's manager/controlapi/service.go validateEndpointSpec
INGRESS_WITH_DNSRR: Final = (
    "EndpointSpec: port published with ingress mode can't be used with dnsrr mode"
)
# options of api/service_options.py this module applies
ENDPOINT_OPTION_TYPES: Final[dict[str, type]] = {"endpoint_mode": str}


def invalid_mode(value: object) -> str:
    """dockerd's refusal of a mode it does not know (Go's ``%q``)."""
    return f"invalid resolution mode: {json.dumps(str(value), ensure_ascii=False)}"


def parse_endpoint_mode(value: str, field: str) -> EndpointMode:
    """A flag's or compose key's value, in either case."""
    try:
        return EndpointMode(value.lower())
    except ValueError:
        raise InvalidSpec(field, invalid_mode(value)) from None


def apply_endpoint_options(spec: ServiceSpec, options: Mapping[str, Any]) -> ServiceSpec:
    if "endpoint_mode" not in options:
        return spec
    mode = parse_endpoint_mode(options["endpoint_mode"], "--endpoint-mode")
    return replace(spec, endpoint=replace(spec.endpoint, mode=mode))


def validate_endpoint_mode(endpoint: EndpointSpec, field: str) -> None:
    if not isinstance(endpoint.mode, EndpointMode):
        raise InvalidSpec(f"{field}.mode", invalid_mode(endpoint.mode))
    if endpoint.mode is not EndpointMode.DNSRR:
        return
    for i, port in enumerate(endpoint.ports):
        if port.publish_mode is PublishMode.INGRESS:
            raise InvalidSpec(f"{field}.ports[{i}]", INGRESS_WITH_DNSRR)
