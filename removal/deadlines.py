"""Statutory deadline arithmetic, exactly as ``docs/spec/deadlines.md`` states it.

Pure functions over aware datetimes: no models, no clock, no I/O. The only Django contact is
``policy_from_settings()``, which imports settings lazily so this module stays importable (and
testable) without a configured project.

Every deadline is returned as an aware datetime at 23:59:59.999999 local time on the due day, in
the reference zone of the jurisdiction whose rule set it, so that printing it shows the offset a
regulator in that jurisdiction would read.

Behaviour where the spec leaves a gap:

- While identity information is outstanding (requested, not yet received), GB and a soft-paused
  EU clock are computed from receipt; ``Deadlines.awaiting_identity`` names the jurisdictions
  whose clock will restart once it arrives. Showing the earlier date means nobody relaxes
  because of a pause that may never take effect.
- The EU soft pause moves the whole EU clock (respond_by and the extended deadline), as GB's
  "start" does: the spec says the GB rule "applies" to the EU under the policy.
- Acknowledgement deadlines always count from receipt (only US-CA has one; it never pauses).
- Ties between jurisdictions at the same instant are attributed to the alphabetically first
  code, so ``*_set_by`` does not depend on the order the codes were given in.
- Public holidays (``Policy.holidays``) only matter where the spec rolls or counts working days:
  business days skip them, and the month rule's weekend roll also rolls over them. Calendar-day
  counts never roll (the spec's US-CA example falls due on a Sunday).
"""

from __future__ import annotations

import calendar
import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from typing import Any, Final, TypeAlias
from zoneinfo import ZoneInfo

# Marks names for translation without translating here: this module stays free of Django state.
from django.utils.translation import gettext_noop

__all__ = [
    "DEFAULT_POLICY",
    "JURISDICTIONS",
    "RIGHTS",
    "BusinessDays",
    "CalendarDays",
    "CalendarMonths",
    "Deadlines",
    "IdentityPause",
    "Jurisdiction",
    "Period",
    "Policy",
    "Right",
    "Rule",
    "UnknownJurisdiction",
    "add_business_days",
    "add_months",
    "compute_deadlines",
    "end_of_local_day",
    "extension_available",
    "get_jurisdiction",
    "policy_from_settings",
    "roll_forward",
]


class Right(enum.StrEnum):
    ERASURE = "erasure"
    OPT_OUT = "opt_out"


RIGHTS: Final[tuple[str, ...]] = tuple(r.value for r in Right)


class IdentityPause(enum.StrEnum):
    NONE = "none"
    GB_START_ON_IDENTITY = "gb-start-on-identity"
    EU_SOFT_PAUSE = "eu-soft-pause"


class UnknownJurisdiction(ValueError):
    def __init__(self, code: str) -> None:
        self.code = code
        known = ", ".join(JURISDICTIONS)
        super().__init__(f"unknown jurisdiction {code!r} (known: {known})")


# --------------------------------------------------------------------------------------------
# Policy: the spec's "*policy*" choices, configurable per deployment.


@dataclass(frozen=True)
class Policy:
    roll_weekends: bool = True
    holidays: frozenset[date] = frozenset()
    eu_soft_pause: bool = True
    eu_soft_pause_working_days: int = 3

    def __post_init__(self) -> None:
        # Settings are hand-written; a wrong type here would silently shift legal deadlines.
        for name in ("roll_weekends", "eu_soft_pause"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"deadline policy {name} must be a bool")
        days = self.eu_soft_pause_working_days
        if isinstance(days, bool) or not isinstance(days, int) or days < 0:
            raise ValueError("deadline policy eu_soft_pause_working_days must be an int >= 0")
        if not isinstance(self.holidays, frozenset) or not all(type(h) is date for h in self.holidays):
            raise ValueError("deadline policy holidays must be a frozenset of dates")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Policy:
        """Build from a settings-style mapping; holidays may be dates or ISO date strings."""
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown deadline policy keys: {', '.join(sorted(unknown))}")
        kwargs = dict(values)
        if "holidays" in kwargs:
            kwargs["holidays"] = frozenset(_as_date(h) for h in kwargs["holidays"])
        return cls(**kwargs)

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self.holidays


def _as_date(value: object) -> date:
    if isinstance(value, str):
        return date.fromisoformat(value)
    if type(value) is date:
        return value
    raise ValueError(f"deadline policy holiday {value!r} is not a date")


DEFAULT_POLICY: Final = Policy()


def policy_from_settings() -> Policy:
    """The deployment's policy: ``settings.DEADLINE_POLICY`` over the spec's defaults."""
    from django.conf import settings

    return Policy.from_mapping(getattr(settings, "DEADLINE_POLICY", None) or {})


# --------------------------------------------------------------------------------------------
# Calendar arithmetic on local dates.


def add_months(day: date, months: int) -> date:
    """Same day-number ``months`` later, clamped to that month's last day."""
    year, month0 = divmod(day.year * 12 + day.month - 1 + months, 12)
    last = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(day.day, last))


def roll_forward(day: date, policy: Policy) -> date:
    """The month rule's roll: a Saturday, Sunday (or policy holiday) becomes the next working day."""
    if not policy.roll_weekends:
        return day
    while not policy.is_working_day(day):
        day += timedelta(days=1)
    return day


def add_business_days(day: date, count: int, policy: Policy) -> date:
    """``count`` working days after ``day``; ``day`` itself is never counted."""
    while count > 0:
        day += timedelta(days=1)
        if policy.is_working_day(day):
            count -= 1
    return day


@dataclass(frozen=True)
class CalendarDays:
    days: int

    def due_date(self, start: date, policy: Policy) -> date:
        return start + timedelta(days=self.days)


@dataclass(frozen=True)
class CalendarMonths:
    months: int

    def due_date(self, start: date, policy: Policy) -> date:
        return roll_forward(add_months(start, self.months), policy)


@dataclass(frozen=True)
class BusinessDays:
    days: int

    def due_date(self, start: date, policy: Policy) -> date:
        return add_business_days(start, self.days, policy)


Period: TypeAlias = CalendarDays | CalendarMonths | BusinessDays


def end_of_local_day(day: date, zone: str) -> datetime:
    return datetime.combine(day, time.max, tzinfo=ZoneInfo(zone))


# --------------------------------------------------------------------------------------------
# The table. Adding a jurisdiction is one ``Jurisdiction(...)`` entry below.


@dataclass(frozen=True)
class Rule:
    respond: Period
    acknowledge: Period | None = None
    extended: Period | None = None
    identity_pause: IdentityPause = IdentityPause.NONE
    # Only where a right has its own provision (US-CA opt-out); otherwise the jurisdiction's.
    regime: str | None = None


@dataclass(frozen=True)
class Jurisdiction:
    code: str
    name: str
    regime: str
    zone: str
    # Where a subject may complain (named in denial notices), in words a person can act on.
    authority: str
    erasure: Rule
    # None: an opt-out is handled as an erasure request there.
    opt_out: Rule | None = None

    def __post_init__(self) -> None:
        ZoneInfo(self.zone)  # a misspelt zone must fail at import, not on the first request

    def rule_for(self, right: Right | str) -> Rule:
        if Right(right) is Right.OPT_OUT and self.opt_out is not None:
            return self.opt_out
        return self.erasure

    def regime_for(self, right: Right | str) -> str:
        return self.rule_for(right).regime or self.regime


def _table(*entries: Jurisdiction) -> Mapping[str, Jurisdiction]:
    table = {j.code: j for j in entries}
    if len(table) != len(entries):
        raise ValueError("duplicate jurisdiction code in the deadline table")
    return MappingProxyType(table)


_US_STATE = Rule(respond=CalendarDays(45), extended=CalendarDays(90))

JURISDICTIONS: Final[Mapping[str, Jurisdiction]] = _table(
    Jurisdiction(
        code="EU",
        name=gettext_noop("European Union (GDPR)"),
        regime="GDPR Art. 12(3)",
        zone="Europe/Brussels",
        authority=gettext_noop(
            "the data protection authority of the EU country where you live or work, "
            "or where you think the law was broken"
        ),
        erasure=Rule(
            respond=CalendarMonths(1),
            extended=CalendarMonths(3),
            identity_pause=IdentityPause.EU_SOFT_PAUSE,
        ),
    ),
    Jurisdiction(
        code="GB",
        name=gettext_noop("United Kingdom (UK GDPR)"),
        regime="UK GDPR",
        zone="Europe/London",
        authority=gettext_noop("the Information Commissioner's Office (ico.org.uk)"),
        erasure=Rule(
            respond=CalendarMonths(1),
            extended=CalendarMonths(3),
            identity_pause=IdentityPause.GB_START_ON_IDENTITY,
        ),
    ),
    Jurisdiction(
        code="US-CA",
        name=gettext_noop("California (CCPA)"),
        regime="CCPA regs §7021 (delete/know/correct)",
        zone="America/Los_Angeles",
        authority=gettext_noop(
            "the California Privacy Protection Agency (cppa.ca.gov) "
            "or the California Attorney General (oag.ca.gov)"
        ),
        # "Receipt is day 1 of 45": the 45th day is receipt + 44.
        erasure=Rule(acknowledge=BusinessDays(10), respond=CalendarDays(44), extended=CalendarDays(89)),
        opt_out=Rule(respond=BusinessDays(15), regime="CCPA regs §7026 (opt-out of sale/sharing)"),
    ),
    Jurisdiction(
        code="US-VA",
        name=gettext_noop("Virginia (VCDPA)"),
        regime="VCDPA §59.1-577",
        zone="America/New_York",
        authority=gettext_noop("the Virginia Attorney General (oag.state.va.us)"),
        erasure=_US_STATE,
        opt_out=_US_STATE,
    ),
    Jurisdiction(
        code="US-CO",
        name=gettext_noop("Colorado (CPA)"),
        regime="CPA §6-1-1306",
        zone="America/Denver",
        authority=gettext_noop("the Colorado Attorney General (coag.gov)"),
        erasure=_US_STATE,
        opt_out=_US_STATE,
    ),
    Jurisdiction(
        code="US-CT",
        name=gettext_noop("Connecticut (CTDPA)"),
        regime="CTDPA §42-518",
        zone="America/New_York",
        authority=gettext_noop("the Connecticut Attorney General (portal.ct.gov/ag)"),
        erasure=_US_STATE,
        opt_out=_US_STATE,
    ),
    Jurisdiction(
        code="BR",
        name=gettext_noop("Brazil (LGPD)"),
        regime="LGPD Art. 19",
        zone="America/Sao_Paulo",
        authority=gettext_noop("the Autoridade Nacional de Proteção de Dados (gov.br/anpd)"),
        erasure=Rule(respond=CalendarDays(15)),
    ),
    Jurisdiction(
        code="CA",
        name=gettext_noop("Canada (PIPEDA)"),
        regime="PIPEDA s.8",
        zone="America/Toronto",
        authority=gettext_noop("the Office of the Privacy Commissioner of Canada (priv.gc.ca)"),
        erasure=Rule(respond=CalendarDays(30), extended=CalendarDays(60)),
    ),
    Jurisdiction(
        code="CA-QC",
        name=gettext_noop("Québec (P-39.1)"),
        regime="Québec P-39.1 s.32",
        zone="America/Toronto",
        authority=gettext_noop("the Commission d'accès à l'information du Québec (cai.gouv.qc.ca)"),
        erasure=Rule(respond=CalendarDays(30)),
    ),
    Jurisdiction(
        code="AU",
        name=gettext_noop("Australia (APP 12)"),
        regime="APP 12",
        zone="Australia/Sydney",
        authority=gettext_noop("the Office of the Australian Information Commissioner (oaic.gov.au)"),
        erasure=Rule(respond=CalendarDays(30)),
    ),
)


def get_jurisdiction(code: str) -> Jurisdiction:
    try:
        return JURISDICTIONS[code]
    except KeyError:
        raise UnknownJurisdiction(code) from None


# --------------------------------------------------------------------------------------------
# Computation.


@dataclass(frozen=True, kw_only=True)
class Deadlines:
    acknowledge_by: datetime | None
    respond_by: datetime
    # None when no extension is available for the combination of jurisdictions.
    respond_by_extended: datetime | None
    # Clock start of the jurisdiction that set respond_by, in its reference zone.
    clock_started_at: datetime
    acknowledge_by_set_by: str | None
    respond_by_set_by: str
    respond_by_extended_set_by: str | None
    # Jurisdictions whose clock will restart when the requested identity information arrives.
    awaiting_identity: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Single:
    code: str
    acknowledge_by: datetime | None
    respond_by: datetime
    respond_by_extended: datetime | None
    clock_started_at: datetime
    awaiting_identity: bool


def compute_deadlines(
    *,
    jurisdictions: Sequence[str],
    right: str,
    received_at: datetime,
    identity_requested_at: datetime | None = None,
    identity_received_at: datetime | None = None,
    identity_doubt_recorded: bool = False,
    policy: Policy = DEFAULT_POLICY,
) -> Deadlines:
    """Deadlines of one request under every named jurisdiction, combined as the spec says.

    Each deadline is the earliest of the applicable ones, compared as instants. For the
    extended deadline a jurisdiction without extension counts with its respond_by; if that
    leaves nothing later than the combined respond_by, no extension is available.
    """
    parsed_right = _parse_right(right)
    _require_aware(
        received_at=received_at,
        identity_requested_at=identity_requested_at,
        identity_received_at=identity_received_at,
    )
    for name, value in (
        ("identity_requested_at", identity_requested_at),
        ("identity_received_at", identity_received_at),
    ):
        if value is not None and _instant(value) < _instant(received_at):
            raise ValueError(f"{name} ({value.isoformat()}) is before received_at")
    codes = _resolve_codes(jurisdictions)

    singles = [
        _compute_single(
            JURISDICTIONS[code],
            JURISDICTIONS[code].rule_for(parsed_right),
            received_at=received_at,
            identity_requested_at=identity_requested_at,
            identity_received_at=identity_received_at,
            identity_doubt_recorded=identity_doubt_recorded,
            policy=policy,
        )
        for code in codes
    ]

    respond = _earliest((s.respond_by, s) for s in singles)
    assert respond is not None  # _resolve_codes guarantees at least one jurisdiction
    respond_by, respond_single = respond
    acknowledge = _earliest((s.acknowledge_by, s) for s in singles if s.acknowledge_by is not None)
    extended = _earliest((s.respond_by_extended or s.respond_by, s) for s in singles)
    if extended is not None and _instant(extended[0]) <= _instant(respond_by):
        extended = None

    return Deadlines(
        acknowledge_by=acknowledge[0] if acknowledge else None,
        respond_by=respond_by,
        respond_by_extended=extended[0] if extended else None,
        clock_started_at=respond_single.clock_started_at,
        acknowledge_by_set_by=acknowledge[1].code if acknowledge else None,
        respond_by_set_by=respond_single.code,
        respond_by_extended_set_by=extended[1].code if extended else None,
        awaiting_identity=tuple(sorted(s.code for s in singles if s.awaiting_identity)),
    )


def extension_available(deadlines: Deadlines, *, now: datetime) -> bool:
    """Whether an extension notice sent at ``now`` would still take effect."""
    _require_aware(now=now)
    return deadlines.respond_by_extended is not None and _instant(now) <= _instant(deadlines.respond_by)


def _parse_right(right: str) -> Right:
    try:
        return Right(right)
    except ValueError:
        raise ValueError(f"unknown right {right!r} (known: {', '.join(RIGHTS)})") from None


def _require_aware(**values: datetime | None) -> None:
    for name, value in values.items():
        if value is not None and (value.tzinfo is None or value.utcoffset() is None):
            raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")


def _resolve_codes(jurisdictions: Iterable[str]) -> list[str]:
    if isinstance(jurisdictions, str):
        # A bare "EU" would otherwise be read as the codes "E" and "U".
        raise ValueError("jurisdictions must be a sequence of codes, not a single string")
    codes = list(dict.fromkeys(jurisdictions))
    if not codes:
        raise ValueError("at least one jurisdiction is required")
    for code in codes:
        get_jurisdiction(code)
    return codes


def _compute_single(
    jurisdiction: Jurisdiction,
    rule: Rule,
    *,
    received_at: datetime,
    identity_requested_at: datetime | None,
    identity_received_at: datetime | None,
    identity_doubt_recorded: bool,
    policy: Policy,
) -> _Single:
    zone = ZoneInfo(jurisdiction.zone)
    receipt_day = received_at.astimezone(zone).date()
    clock_start = received_at
    awaiting = False

    if rule.identity_pause is IdentityPause.GB_START_ON_IDENTITY:
        if identity_received_at is not None:
            clock_start = max(received_at, identity_received_at, key=_instant)
        else:
            awaiting = identity_requested_at is not None
    elif rule.identity_pause is IdentityPause.EU_SOFT_PAUSE and _eu_soft_pause_applies(
        receipt_day=receipt_day,
        identity_requested_at=identity_requested_at,
        identity_doubt_recorded=identity_doubt_recorded,
        zone=zone,
        policy=policy,
    ):
        if identity_received_at is not None:
            clock_start = identity_received_at
        else:
            awaiting = True

    start_day = clock_start.astimezone(zone).date()
    # Acknowledgement is owed on receipt whatever identity checks follow, so it counts from
    # receipt; today only US-CA has one, and its clock never pauses anyway.
    ack = rule.acknowledge
    return _Single(
        code=jurisdiction.code,
        acknowledge_by=(
            end_of_local_day(ack.due_date(receipt_day, policy), jurisdiction.zone)
            if ack is not None
            else None
        ),
        respond_by=end_of_local_day(rule.respond.due_date(start_day, policy), jurisdiction.zone),
        respond_by_extended=(
            end_of_local_day(rule.extended.due_date(start_day, policy), jurisdiction.zone)
            if rule.extended is not None
            else None
        ),
        clock_started_at=clock_start.astimezone(zone),
        awaiting_identity=awaiting,
    )


def _eu_soft_pause_applies(
    *,
    receipt_day: date,
    identity_requested_at: datetime | None,
    identity_doubt_recorded: bool,
    zone: ZoneInfo,
    policy: Policy,
) -> bool:
    if not policy.eu_soft_pause or not identity_doubt_recorded or identity_requested_at is None:
        return False
    last_day = add_business_days(receipt_day, policy.eu_soft_pause_working_days, policy)
    return identity_requested_at.astimezone(zone).date() <= last_day


def _instant(value: datetime) -> datetime:
    # Aware datetimes sharing a tzinfo compare by wall time; UTC makes every comparison an
    # instant comparison, which the spec requires across zones.
    return value.astimezone(UTC)


def _earliest(candidates: Iterable[tuple[datetime, _Single]]) -> tuple[datetime, _Single] | None:
    # Ties (same instant) go to the alphabetically first code, so the attribution does not
    # depend on the order the jurisdictions were listed in.
    return min(candidates, key=lambda c: (_instant(c[0]), c[1].code), default=None)
