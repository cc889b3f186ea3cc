"""A linearizability checker for a key-value store of registers (Wing & Gong's search,
with Lowe's memoization of (linearized set, state) and P-compositionality per key).

An operation is (invoke time, response time or None, kind, key, value): a write's value
is what it wrote; a read's value is what it returned. An operation with no response may or
may not have taken effect (it can be linearized anywhere after its invocation, including
after everything else, which is the same as never). Times must be distinct integers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Op", "check_history", "check_register"]


@dataclass(slots=True)
class Op:
    invoke: int
    response: int | None
    kind: str  # 'w' or 'r'
    key: str
    value: object


def check_history(ops: Iterable[Op]) -> str | None:
    """None if linearizable, else the key whose sub-history is not."""
    by_key: dict[str, list[Op]] = defaultdict(list)
    for op in ops:
        by_key[op.key].append(op)
    for key, sub in sorted(by_key.items()):
        if not check_register(sub):
            return key
    return None


def check_register(ops: list[Op], initial: object = None) -> bool:
    n = len(ops)
    if n == 0:
        return True
    inf = float("inf")
    events = sorted(
        [(op.invoke, 0, i) for i, op in enumerate(ops)]
        + [(inf if op.response is None else op.response, 1, i) for i, op in enumerate(ops)]
    )
    size = len(events) + 1  # node 0 is the head sentinel
    nxt = list(range(1, size + 1))
    nxt[-1] = -1
    prv = list(range(-1, size - 1))
    is_call = [False] * size
    opid = [0] * size
    match = [0] * size
    ret_node = {}
    for k, (_, is_ret, i) in enumerate(events, start=1):
        opid[k] = i
        is_call[k] = not is_ret
        if is_ret:
            ret_node[i] = k
    for k in range(1, size):
        if is_call[k]:
            match[k] = ret_node[opid[k]]

    def unlink(k: int) -> None:
        nxt[prv[k]] = nxt[k]
        if nxt[k] != -1:
            prv[nxt[k]] = prv[k]

    def relink(k: int) -> None:
        nxt[prv[k]] = k
        if nxt[k] != -1:
            prv[nxt[k]] = k

    state = initial
    linearized = 0
    cache: set[tuple[int, object]] = set()
    stack: list[tuple[int, object]] = []
    k = nxt[0]
    while nxt[0] != -1:
        if is_call[k]:
            op = ops[opid[k]]
            if op.kind == "w":
                ok, new_state = True, op.value
            else:
                ok, new_state = op.value == state, state
            if ok:
                lin = linearized | (1 << opid[k])
                if (lin, new_state) not in cache:
                    cache.add((lin, new_state))
                    stack.append((k, state))
                    state, linearized = new_state, lin
                    unlink(k)
                    unlink(match[k])
                    k = nxt[0]
                    continue
            k = nxt[k]
        else:
            if not stack:
                return False
            k, state = stack.pop()
            linearized &= ~(1 << opid[k])
            relink(match[k])
            relink(k)
            k = nxt[k]
    return True
