"""The wire schema, declared once (DESIGN.md §6): one module per owner, one registry.

- `api.schema.frame`: the envelope, the protocol version and the decode limits by sender;
- `api.schema.declare`: the language of declarations (field types, `MessageType`);
- one module per owner of message types: `transport` (error, ping, version),
  `dispatcher`, `raft`, `membership` (raft.join), `control`, `ca`, `logs`;
- `api.schema.registry`: every owner's types by name, where `transport.codec` looks them up.

Adding a type is one declaration in its owner's module::

    RAFT_STATUS: Final = SCHEMA.declare(MessageType(
        "raft.status", (Field("term", INT), Field("hint", STR, required=False)),
        reply="raft.status.reply",
    ))

This package only declares; `transport.codec` is the one place that decodes and validates
against these declarations. It imports nothing here, so importing one owner's module
does not load the others.
"""

__all__ = [
    "ca",
    "control",
    "declare",
    "dispatcher",
    "frame",
    "logs",
    "membership",
    "raft",
    "registry",
    "transport",
]
