"""The scheduler (leader-only, DESIGN.md §2): assigns PENDING tasks to nodes.

A pipeline of filters that explain themselves (``filters``), an account of every node
(``nodeinfo``), strategies and placement preferences (``strategy``), the pure core fed by
store changes (``scheduler``) and the pykka shell that reads and writes the store
(``actor``). Only ``actor`` does I/O.
"""

from actors.scheduler.actor import DEFAULT_TICK_INTERVAL, SchedulerActor, TickReport
from actors.scheduler.constraints import match_constraint, parse_constraints, spread_value
from actors.scheduler.demand import Demand, Usage, demand_of, usage_of
from actors.scheduler.filters import (
    DEFAULT_FILTERS,
    ConstraintFilter,
    ExecutorFilter,
    Filter,
    GroupCheck,
    HostPortFilter,
    MaxReplicasFilter,
    Pipeline,
    PlatformFilter,
    ReadyFilter,
    ResourceFilter,
    explain,
)
from actors.scheduler.nodeinfo import FAILURE_WINDOW, MAX_FAILURES, NodeInfo
from actors.scheduler.scheduler import (
    ASSIGNED_MESSAGE,
    Assignment,
    Decisions,
    SchedulerCore,
    Unschedulable,
)
from actors.scheduler.strategy import place_group

__all__ = [
    "ASSIGNED_MESSAGE",
    "DEFAULT_FILTERS",
    "DEFAULT_TICK_INTERVAL",
    "FAILURE_WINDOW",
    "MAX_FAILURES",
    "Assignment",
    "ConstraintFilter",
    "Decisions",
    "Demand",
    "ExecutorFilter",
    "Filter",
    "GroupCheck",
    "HostPortFilter",
    "MaxReplicasFilter",
    "NodeInfo",
    "Pipeline",
    "PlatformFilter",
    "ReadyFilter",
    "ResourceFilter",
    "SchedulerActor",
    "SchedulerCore",
    "TickReport",
    "Unschedulable",
    "Usage",
    "demand_of",
    "explain",
    "match_constraint",
    "parse_constraints",
    "place_group",
    "spread_value",
    "usage_of",
]
