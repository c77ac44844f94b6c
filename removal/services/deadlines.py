"""Deadlines on a request: computed at intake, restarted when identity arrives, extended once."""

from __future__ import annotations

from removal import deadlines
from removal.models import (
    RemovalRequest,
)


def apply_deadlines(request: RemovalRequest, codes: list[str]) -> None:
    computed = deadlines.compute_deadlines(
        jurisdictions=codes,
        right=request.right,
        received_at=request.received_at,
        policy=deadlines.policy_from_settings(),
    )
    request.clock_started_at = computed.clock_started_at
    request.acknowledge_by = computed.acknowledge_by
    request.respond_by = computed.respond_by
    request.respond_by_extended = computed.respond_by_extended
    request.acknowledge_by_set_by = computed.acknowledge_by_set_by or ""
    request.respond_by_set_by = computed.respond_by_set_by
    request.respond_by_extended_set_by = computed.respond_by_extended_set_by or ""
