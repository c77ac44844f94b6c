"""`zone`: a deadline's time zone as people read it."""

from __future__ import annotations

from datetime import datetime, timedelta

from django import template

register = template.Library()


@register.filter
def zone(value: datetime) -> str:
    """Its abbreviation (CET, PST), or the offset from UTC where the zone has none: Brazil's is
    written "-03" in the time-zone database, which reads like a typo, so it becomes "UTC-03:00"."""
    name = value.tzname() or ""
    if name and name[0] not in "+-":
        return name
    minutes = int((value.utcoffset() or timedelta(0)).total_seconds() // 60)
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{'+' if minutes >= 0 else '-'}{hours:02d}:{rest:02d}"
