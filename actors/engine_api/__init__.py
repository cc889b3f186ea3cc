"""The swarm part of the Docker Engine API (v1.41), translated onto the control API.

``swarm-node --engine-api unix:///PATH`` (or ``tcp://HOST:PORT`` with TLS) serves it from
the ``engine`` child (actors/engine_api/child.py) through the shared HTTP shell
(actors/http/). Each resource has its module (system, nodes, services, files); the JSON
shapes (objects.py, service_spec.py, events.py) and list filters (listing.py) are pure.
"""

from actors.engine_api.child import engine_api_child
from actors.engine_api.versions import API_VERSION, MIN_API_VERSION

__all__ = ["API_VERSION", "MIN_API_VERSION", "engine_api_child"]
