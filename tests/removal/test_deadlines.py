"""The statutory deadline rules of docs/spec/deadlines.md, as worked examples and properties."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from removal.deadlines import (
    DEFAULT_POLICY,
    JURISDICTIONS,
    RIGHTS,
    BusinessDays,
    CalendarDays,
    CalendarMonths,
    Deadlines,
    IdentityPause,
    Policy,
    UnknownJurisdiction,
    add_business_days,
    add_months,
    compute_deadlines,
    extension_available,
    roll_forward,
)

BRUSSELS = ZoneInfo("Europe/Brussels")
PROPERTY = settings(max_examples=60, deadline=None)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def due_day(deadline: datetime, code: str) -> date:
    """The local due date, after checking it is the end of that day in the code's zone."""
    zone = JURISDICTIONS[code].zone
    assert getattr(deadline.tzinfo, "key", None) == zone
    assert deadline.time() == time(23, 59, 59, 999999)
    return deadline.date()


def compute(codes: tuple[str, ...] | list[str], right: str = "erasure", **kwargs: object) -> Deadlines:
    return compute_deadlines(jurisdictions=codes, right=right, **kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# The spec's worked examples, every row.


@dataclasses.dataclass(frozen=True)
class Example:
    codes: tuple[str, ...]
    right: str
    received: str
    identity_received: str | None
    acknowledge_by: str | None
    respond_by: str
    respond_by_set_by: str
    extended: str | None


WORKED_EXAMPLES = [
    Example(("EU",), "erasure", "2026-01-15T09:00", None, None, "2026-02-16", "EU", "2026-04-15"),
    Example(
        ("US-CA",), "erasure", "2026-04-03T18:00", None, "2026-04-17", "2026-05-17", "US-CA", "2026-07-01"
    ),
    Example(("US-CA",), "opt_out", "2026-04-03T18:00", None, None, "2026-04-24", "US-CA", None),
    Example(
        ("GB",), "erasure", "2026-02-02T10:00", "2026-02-09T10:00", None, "2026-03-09", "GB", "2026-05-11"
    ),
    Example(("EU", "BR"), "erasure", "2026-05-05T10:00", None, None, "2026-05-20", "BR", None),
]


@pytest.mark.parametrize(
    "example", WORKED_EXAMPLES, ids=lambda e: f"{'+'.join(e.codes)}-{e.right}-{e.received[:10]}"
)
def test_worked_examples_of_the_spec_give_the_spec_due_dates(example: Example) -> None:
    deadlines = compute(
        example.codes,
        example.right,
        received_at=utc(example.received),
        identity_received_at=utc(example.identity_received) if example.identity_received else None,
    )

    if example.acknowledge_by is None:
        assert deadlines.acknowledge_by is None
        assert deadlines.acknowledge_by_set_by is None
    else:
        assert deadlines.acknowledge_by is not None
        assert deadlines.acknowledge_by_set_by == example.respond_by_set_by
        assert due_day(deadlines.acknowledge_by, example.respond_by_set_by) == date.fromisoformat(
            example.acknowledge_by
        )
    assert deadlines.respond_by_set_by == example.respond_by_set_by
    assert due_day(deadlines.respond_by, example.respond_by_set_by) == date.fromisoformat(example.respond_by)
    if example.extended is None:
        assert deadlines.respond_by_extended is None
        assert deadlines.respond_by_extended_set_by is None
    else:
        assert deadlines.respond_by_extended is not None
        assert deadlines.respond_by_extended_set_by == example.respond_by_set_by
        assert due_day(deadlines.respond_by_extended, example.respond_by_set_by) == date.fromisoformat(
            example.extended
        )


def test_eu_respond_by_rolls_sunday_to_monday() -> None:
    deadlines = compute(["EU"], received_at=utc("2026-01-15T09:00"))

    assert date(2026, 2, 15).weekday() == 6
    assert deadlines.respond_by == datetime(2026, 2, 16, 23, 59, 59, 999999, tzinfo=BRUSSELS)
    assert deadlines.respond_by.utcoffset() == timedelta(hours=1)


def test_eu_extended_is_counted_from_receipt_and_shows_summer_time() -> None:
    deadlines = compute(["EU"], received_at=utc("2026-01-15T09:00"))

    assert deadlines.respond_by_extended == datetime(2026, 4, 15, 23, 59, 59, 999999, tzinfo=BRUSSELS)
    assert deadlines.respond_by_extended.utcoffset() == timedelta(hours=2)


def test_us_ca_day_count_falls_due_on_a_sunday_without_rolling() -> None:
    deadlines = compute(["US-CA"], received_at=utc("2026-04-03T18:00"))

    assert due_day(deadlines.respond_by, "US-CA") == date(2026, 5, 17)
    assert date(2026, 5, 17).weekday() == 6


def test_us_ca_acknowledge_by_is_the_second_friday_after_a_friday_receipt() -> None:
    deadlines = compute(["US-CA"], received_at=utc("2026-04-03T18:00"))

    assert deadlines.acknowledge_by is not None
    assert due_day(deadlines.acknowledge_by, "US-CA") == date(2026, 4, 17)
    assert date(2026, 4, 17).weekday() == 4


def test_gb_extended_rolls_saturday_to_monday() -> None:
    deadlines = compute(
        ["GB"], received_at=utc("2026-02-02T10:00"), identity_received_at=utc("2026-02-09T10:00")
    )

    assert date(2026, 5, 9).weekday() == 5
    assert deadlines.respond_by_extended is not None
    assert due_day(deadlines.respond_by_extended, "GB") == date(2026, 5, 11)
    assert deadlines.clock_started_at == utc("2026-02-09T10:00")


def test_receipt_date_is_the_local_date_in_the_reference_zone() -> None:
    # 23:30 UTC on 14 Jan is already 15 Jan in Brussels, 3 Apr 22:00 in Los Angeles on 4 Apr UTC.
    eu = compute(["EU"], received_at=utc("2026-01-14T23:30"))
    us = compute(["US-CA"], received_at=utc("2026-04-04T05:00"))

    assert due_day(eu.respond_by, "EU") == date(2026, 2, 16)
    assert us.acknowledge_by is not None
    assert due_day(us.acknowledge_by, "US-CA") == date(2026, 4, 17)


def test_multi_jurisdiction_extension_counts_one_without_extension_at_its_respond_by() -> None:
    # EU: 10 Mar (28-day February); CA-QC: receipt + 30 days = 12 Mar, no extension. The
    # combined extension is therefore only to CA-QC's respond_by, not EU's three months.
    deadlines = compute(["EU", "CA-QC"], received_at=utc("2026-02-10T12:00"))

    assert deadlines.respond_by_set_by == "EU"
    assert due_day(deadlines.respond_by, "EU") == date(2026, 3, 10)
    assert deadlines.respond_by_extended_set_by == "CA-QC"
    assert deadlines.respond_by_extended is not None
    assert due_day(deadlines.respond_by_extended, "CA-QC") == date(2026, 3, 12)


def test_multi_jurisdiction_compares_instants_not_local_dates() -> None:
    # Same local due date (16 Feb): Brussels' end of day comes an hour before London's.
    deadlines = compute(["GB", "EU"], received_at=utc("2026-01-15T09:00"))

    assert deadlines.respond_by_set_by == "EU"
    assert deadlines.respond_by.astimezone(UTC) == utc("2026-02-16T22:59:59.999999")


def test_equal_instants_are_attributed_to_the_first_code_alphabetically() -> None:
    forward = compute(["US-VA", "US-CT"], received_at=utc("2026-03-01T12:00"))
    backward = compute(["US-CT", "US-VA"], received_at=utc("2026-03-01T12:00"))

    assert forward == backward
    assert forward.respond_by_set_by == "US-CT"


def test_instants_in_a_dst_fold_are_ordered_as_instants_not_wall_times() -> None:
    # 01:45 PDT (first pass) is before 01:30 PST (second pass) on 1 Nov 2026 in Los Angeles.
    los_angeles = ZoneInfo("America/Los_Angeles")
    received = datetime(2026, 11, 1, 1, 45, tzinfo=los_angeles)
    identity = datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=los_angeles)

    deadlines = compute(["GB"], received_at=received, identity_received_at=identity)

    assert deadlines.clock_started_at.astimezone(UTC) == utc("2026-11-01T09:30")


def test_duplicate_codes_count_once() -> None:
    assert compute(["EU", "EU"], received_at=utc("2026-01-15T09:00")) == compute(
        ["EU"], received_at=utc("2026-01-15T09:00")
    )


# --------------------------------------------------------------------------------------------
# The table.


def test_table_holds_exactly_the_spec_jurisdictions() -> None:
    assert list(JURISDICTIONS) == ["EU", "GB", "US-CA", "US-VA", "US-CO", "US-CT", "BR", "CA", "CA-QC", "AU"]
    assert all(code == j.code for code, j in JURISDICTIONS.items())


def test_opt_out_is_its_own_right_only_in_the_four_us_states() -> None:
    with_opt_out = {code for code, j in JURISDICTIONS.items() if j.opt_out is not None}

    assert with_opt_out == {"US-CA", "US-VA", "US-CO", "US-CT"}


@pytest.mark.parametrize("code", ["US-VA", "US-CO", "US-CT"])
def test_state_opt_out_follows_the_row_of_that_state(code: str) -> None:
    received = utc("2026-03-01T12:00")

    assert compute([code], "opt_out", received_at=received) == compute([code], received_at=received)


@pytest.mark.parametrize("code", ["EU", "GB", "BR", "CA", "CA-QC", "AU"])
def test_opt_out_outside_the_us_is_handled_as_erasure(code: str) -> None:
    received = utc("2026-03-01T12:00")

    assert compute([code], "opt_out", received_at=received) == compute([code], received_at=received)


def test_us_ca_opt_out_has_its_own_regime_and_no_extension() -> None:
    us_ca = JURISDICTIONS["US-CA"]

    assert us_ca.regime_for("opt_out") == "CCPA regs §7026 (opt-out of sale/sharing)"
    assert us_ca.regime_for("erasure") == "CCPA regs §7021 (delete/know/correct)"
    assert us_ca.rule_for("opt_out").extended is None


def test_only_gb_and_eu_rules_pause_for_identity() -> None:
    pauses = {code: j.erasure.identity_pause for code, j in JURISDICTIONS.items()}

    assert pauses.pop("GB") is IdentityPause.GB_START_ON_IDENTITY
    assert pauses.pop("EU") is IdentityPause.EU_SOFT_PAUSE
    assert set(pauses.values()) == {IdentityPause.NONE}


# --------------------------------------------------------------------------------------------
# Calendar arithmetic.


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),
        (date(2026, 3, 31), 1, date(2026, 4, 30)),
        (date(2026, 11, 30), 3, date(2027, 2, 28)),
        (date(2026, 12, 15), 1, date(2027, 1, 15)),
    ],
)
def test_month_rule_keeps_the_day_number_clamped_to_the_last_day(
    start: date, months: int, expected: date
) -> None:
    assert add_months(start, months) == expected


def test_31_january_plus_a_month_is_28_february_then_rolls_to_monday() -> None:
    received = utc("2026-01-31T10:00")  # 28 Feb 2026 is a Saturday

    rolled = compute(["EU"], received_at=received)
    unrolled = compute(["EU"], received_at=received, policy=Policy(roll_weekends=False))

    assert due_day(unrolled.respond_by, "EU") == date(2026, 2, 28)
    assert due_day(rolled.respond_by, "EU") == date(2026, 3, 2)


def test_business_days_skip_policy_holidays() -> None:
    # Friday 3 Apr 2026 + 10 business days is Friday 17 Apr; a holiday on Monday 6 Apr pushes it.
    policy = Policy(holidays=frozenset({date(2026, 4, 6)}))

    assert add_business_days(date(2026, 4, 3), 10, DEFAULT_POLICY) == date(2026, 4, 17)
    assert add_business_days(date(2026, 4, 3), 10, policy) == date(2026, 4, 20)


def test_weekend_roll_also_rolls_over_policy_holidays() -> None:
    # 15 Feb 2026 is a Sunday; with Monday 16 Feb a holiday the EU deadline is Tuesday.
    policy = Policy(holidays=frozenset({date(2026, 2, 16)}))

    deadlines = compute(["EU"], received_at=utc("2026-01-15T09:00"), policy=policy)

    assert due_day(deadlines.respond_by, "EU") == date(2026, 2, 17)


def test_calendar_day_counts_ignore_holidays() -> None:
    policy = Policy(holidays=frozenset({date(2026, 5, 18)}))

    deadlines = compute(["US-CA"], received_at=utc("2026-04-03T18:00"), policy=policy)

    assert due_day(deadlines.respond_by, "US-CA") == date(2026, 5, 17)


def test_receipt_on_a_weekend_starts_business_days_on_monday() -> None:
    assert add_business_days(date(2026, 4, 4), 1, DEFAULT_POLICY) == date(2026, 4, 6)


dates = st.dates(min_value=date(1990, 1, 1), max_value=date(2200, 12, 31))
holiday_sets = st.frozensets(st.dates(min_value=date(2025, 12, 1), max_value=date(2026, 12, 31)), max_size=40)


@PROPERTY
@given(start=dates, months=st.integers(min_value=0, max_value=36))
def test_month_rule_lands_on_the_same_day_number_or_the_last_of_the_month(start: date, months: int) -> None:
    result = add_months(start, months)
    next_month = add_months(result.replace(day=1), 1)
    last_day = (next_month - timedelta(days=1)).day

    assert (result.year * 12 + result.month) - (start.year * 12 + start.month) == months
    assert result.day == min(start.day, last_day)


@PROPERTY
@given(day=st.dates(min_value=date(2026, 1, 1), max_value=date(2026, 12, 31)), holidays=holiday_sets)
def test_weekend_roll_never_lands_on_a_weekend_or_holiday(day: date, holidays: frozenset[date]) -> None:
    policy = Policy(holidays=holidays)

    rolled = roll_forward(day, policy)

    assert rolled >= day
    assert rolled.weekday() < 5
    assert rolled not in holidays
    assert all(not policy.is_working_day(day + timedelta(days=i)) for i in range((rolled - day).days))


@PROPERTY
@given(day=dates)
def test_weekend_roll_without_holidays_moves_at_most_to_the_next_monday(day: date) -> None:
    rolled = roll_forward(day, DEFAULT_POLICY)

    assert rolled == day if day.weekday() < 5 else rolled.weekday() == 0
    assert (rolled - day).days <= 2
    assert roll_forward(day, Policy(roll_weekends=False)) == day


@PROPERTY
@given(
    start=st.dates(min_value=date(2026, 1, 1), max_value=date(2026, 11, 30)),
    count=st.integers(min_value=1, max_value=30),
    holidays=holiday_sets,
)
def test_business_day_results_are_working_days_counted_after_the_start(
    start: date, count: int, holidays: frozenset[date]
) -> None:
    policy = Policy(holidays=holidays)

    result = add_business_days(start, count, policy)
    between = [start + timedelta(days=i) for i in range(1, (result - start).days + 1)]

    assert result.weekday() < 5
    assert result not in holidays
    assert sum(policy.is_working_day(d) for d in between) == count


@pytest.mark.parametrize(
    ("period", "expected"),
    [
        (CalendarDays(44), date(2026, 5, 17)),
        (CalendarMonths(1), date(2026, 5, 4)),  # 3 May 2026 is a Sunday
        (BusinessDays(15), date(2026, 4, 24)),
    ],
)
def test_each_period_kind_counts_from_the_local_receipt_date(period: object, expected: date) -> None:
    assert period.due_date(date(2026, 4, 3), DEFAULT_POLICY) == expected  # type: ignore[attr-defined]


# --------------------------------------------------------------------------------------------
# Properties over requests.

ZONES = [UTC, ZoneInfo("America/Los_Angeles"), ZoneInfo("Australia/Sydney"), BRUSSELS]
# Generated in UTC, then shown in a zone: real instants only, never a wall time in a DST gap.
instants = st.builds(
    datetime.astimezone,
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)),
    st.sampled_from(ZONES),
)
code_sets = st.lists(st.sampled_from(list(JURISDICTIONS)), min_size=1, max_size=4, unique=True)
rights = st.sampled_from(RIGHTS)
offsets = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=20))
policies = st.builds(
    Policy,
    roll_weekends=st.booleans(),
    holidays=st.just(frozenset()),
    eu_soft_pause=st.booleans(),
    eu_soft_pause_working_days=st.integers(min_value=0, max_value=10),
)


@st.composite
def requests(draw: st.DrawFn) -> dict[str, object]:
    received = draw(instants)
    requested = draw(st.none() | offsets.map(lambda o: received + o))
    identity = draw(st.none() | offsets.map(lambda o: (requested or received) + o))
    return {
        "jurisdictions": draw(code_sets),
        "right": draw(rights),
        "received_at": received,
        "identity_requested_at": requested,
        "identity_received_at": identity,
        "identity_doubt_recorded": draw(st.booleans()),
        "policy": draw(policies),
    }


def assert_end_of_day_in_zone_of(deadline: datetime, code: str) -> None:
    due_day(deadline, code)


@PROPERTY
@given(request=requests())
def test_deadlines_are_never_before_receipt_and_end_a_local_day(request: dict[str, object]) -> None:
    deadlines = compute_deadlines(**request)  # type: ignore[arg-type]
    received = request["received_at"]
    assert isinstance(received, datetime)

    assert deadlines.respond_by > received
    assert deadlines.clock_started_at >= received
    assert_end_of_day_in_zone_of(deadlines.respond_by, deadlines.respond_by_set_by)
    if deadlines.acknowledge_by is not None:
        assert deadlines.acknowledge_by > received
        assert deadlines.acknowledge_by_set_by is not None
        assert_end_of_day_in_zone_of(deadlines.acknowledge_by, deadlines.acknowledge_by_set_by)
    if deadlines.respond_by_extended is not None:
        assert deadlines.respond_by_extended > deadlines.respond_by
        assert deadlines.respond_by_extended_set_by is not None
        assert_end_of_day_in_zone_of(deadlines.respond_by_extended, deadlines.respond_by_extended_set_by)


@PROPERTY
@given(request=requests())
def test_multi_jurisdiction_result_is_the_earliest_of_the_single_ones(request: dict[str, object]) -> None:
    codes = request["jurisdictions"]
    assert isinstance(codes, list)

    combined = compute_deadlines(**request)  # type: ignore[arg-type]
    singles = [compute_deadlines(**{**request, "jurisdictions": [code]}) for code in codes]  # type: ignore[arg-type]

    assert combined.respond_by == min(s.respond_by for s in singles)
    acknowledgements = [s.acknowledge_by for s in singles if s.acknowledge_by is not None]
    assert combined.acknowledge_by == (min(acknowledgements) if acknowledgements else None)
    extended = min(s.respond_by_extended or s.respond_by for s in singles)
    assert combined.respond_by_extended == (extended if extended > combined.respond_by else None)


@PROPERTY
@given(request=requests(), seed=st.randoms(use_true_random=False))
def test_the_order_of_jurisdictions_does_not_matter(request: dict[str, object], seed: random.Random) -> None:
    codes = list(request["jurisdictions"])  # type: ignore[call-overload]
    shuffled = codes[:]
    seed.shuffle(shuffled)

    assert compute_deadlines(**request) == compute_deadlines(**{**request, "jurisdictions": shuffled})  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Identity: GB clock start, EU soft pause, everyone else never pauses.


@PROPERTY
@given(received=instants, delay=offsets)
def test_gb_clock_starts_at_the_later_of_receipt_and_identity_received(
    received: datetime, delay: timedelta
) -> None:
    identity = received + delay

    paused = compute(["GB"], received_at=received, identity_received_at=identity)
    from_identity = compute(["GB"], received_at=identity)

    assert paused.clock_started_at == identity
    assert paused.respond_by == from_identity.respond_by
    assert paused.respond_by_extended == from_identity.respond_by_extended


def test_gb_while_identity_is_outstanding_counts_from_receipt_and_says_so() -> None:
    received = utc("2026-02-02T10:00")

    deadlines = compute(["GB"], received_at=received, identity_requested_at=utc("2026-02-03T10:00"))

    assert due_day(deadlines.respond_by, "GB") == date(2026, 3, 2)
    assert deadlines.awaiting_identity == ("GB",)
    assert compute(["GB"], received_at=received).awaiting_identity == ()


# Received Friday 2026-01-16 (Brussels); the 3rd working day after it is Wednesday 21 Jan.
EU_RECEIVED = utc("2026-01-16T09:00")
EU_IDENTITY = utc("2026-01-26T09:00")


def test_eu_soft_pause_starts_the_clock_when_identity_arrives() -> None:
    deadlines = compute(
        ["EU"],
        received_at=EU_RECEIVED,
        identity_requested_at=utc("2026-01-21T16:00"),
        identity_received_at=EU_IDENTITY,
        identity_doubt_recorded=True,
    )

    assert deadlines.clock_started_at == EU_IDENTITY
    assert due_day(deadlines.respond_by, "EU") == date(2026, 2, 26)
    assert deadlines.respond_by_extended is not None
    assert due_day(deadlines.respond_by_extended, "EU") == date(2026, 4, 27)  # 26 Apr is a Sunday


@pytest.mark.parametrize(
    ("requested", "doubt", "policy"),
    [
        pytest.param("2026-01-22T09:00", True, DEFAULT_POLICY, id="requested-on-4th-working-day"),
        pytest.param("2026-01-21T09:00", False, DEFAULT_POLICY, id="no-doubt-recorded"),
        pytest.param(None, True, DEFAULT_POLICY, id="never-requested"),
        pytest.param("2026-01-21T09:00", True, Policy(eu_soft_pause=False), id="policy-off"),
        pytest.param(
            "2026-01-20T09:00", True, Policy(eu_soft_pause_working_days=1), id="outside-configured-window"
        ),
    ],
)
def test_eu_soft_pause_does_not_apply_unless_every_condition_holds(
    requested: str | None, doubt: bool, policy: Policy
) -> None:
    deadlines = compute(
        ["EU"],
        received_at=EU_RECEIVED,
        identity_requested_at=utc(requested) if requested else None,
        identity_received_at=EU_IDENTITY,
        identity_doubt_recorded=doubt,
        policy=policy,
    )

    assert deadlines.clock_started_at == EU_RECEIVED
    assert due_day(deadlines.respond_by, "EU") == date(2026, 2, 16)
    assert deadlines.awaiting_identity == ()


def test_eu_soft_pause_window_counts_working_days_in_brussels_and_skips_holidays() -> None:
    # 20:30 UTC on Wed 21 Jan is still Wednesday in Brussels; a holiday on Tue 20 Jan lets a
    # request on Thursday 22 Jan count too.
    late_wednesday = compute(
        ["EU"],
        received_at=EU_RECEIVED,
        identity_requested_at=utc("2026-01-21T20:30"),
        identity_received_at=EU_IDENTITY,
        identity_doubt_recorded=True,
    )
    with_holiday = compute(
        ["EU"],
        received_at=EU_RECEIVED,
        identity_requested_at=utc("2026-01-22T09:00"),
        identity_received_at=EU_IDENTITY,
        identity_doubt_recorded=True,
        policy=Policy(holidays=frozenset({date(2026, 1, 20)})),
    )

    assert late_wednesday.clock_started_at == EU_IDENTITY
    assert with_holiday.clock_started_at == EU_IDENTITY


def test_eu_soft_pause_while_identity_is_outstanding_counts_from_receipt_and_says_so() -> None:
    deadlines = compute(
        ["EU"],
        received_at=EU_RECEIVED,
        identity_requested_at=utc("2026-01-19T09:00"),
        identity_doubt_recorded=True,
    )

    assert deadlines.clock_started_at == EU_RECEIVED
    assert due_day(deadlines.respond_by, "EU") == date(2026, 2, 16)
    assert deadlines.awaiting_identity == ("EU",)


@PROPERTY
@given(
    received=instants,
    requested_after=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=10)),
    received_after=offsets,
    doubt=st.booleans(),
    policy=policies,
)
def test_eu_soft_pause_applies_exactly_when_all_conditions_hold(
    received: datetime,
    requested_after: timedelta,
    received_after: timedelta,
    doubt: bool,
    policy: Policy,
) -> None:
    requested = received + requested_after
    identity = requested + received_after
    receipt_day = received.astimezone(BRUSSELS).date()
    window_end = add_business_days(receipt_day, policy.eu_soft_pause_working_days, policy)
    applies = policy.eu_soft_pause and doubt and requested.astimezone(BRUSSELS).date() <= window_end

    deadlines = compute(
        ["EU"],
        received_at=received,
        identity_requested_at=requested,
        identity_received_at=identity,
        identity_doubt_recorded=doubt,
        policy=policy,
    )
    expected = compute(["EU"], received_at=identity if applies else received, policy=policy)

    assert deadlines.clock_started_at == (identity if applies else received)
    assert deadlines.respond_by == expected.respond_by
    assert deadlines.respond_by_extended == expected.respond_by_extended


@PROPERTY
@given(
    code=st.sampled_from([c for c in JURISDICTIONS if c not in {"EU", "GB"}]),
    right=rights,
    received=instants,
    requested_after=offsets,
    received_after=offsets,
)
def test_other_jurisdictions_never_pause_for_identity(
    code: str, right: str, received: datetime, requested_after: timedelta, received_after: timedelta
) -> None:
    requested = received + requested_after

    paused = compute(
        [code],
        right,
        received_at=received,
        identity_requested_at=requested,
        identity_received_at=requested + received_after,
        identity_doubt_recorded=True,
    )

    assert paused == compute([code], right, received_at=received)


# --------------------------------------------------------------------------------------------
# Extension and errors.


def test_extension_is_available_until_the_end_of_the_original_respond_by() -> None:
    deadlines = compute(["EU"], received_at=utc("2026-01-15T09:00"))

    assert extension_available(deadlines, now=deadlines.respond_by)
    assert not extension_available(deadlines, now=deadlines.respond_by + timedelta(microseconds=1))


def test_extension_is_never_available_where_no_rule_allows_it() -> None:
    deadlines = compute(["EU", "BR"], received_at=utc("2026-05-05T10:00"))

    assert not extension_available(deadlines, now=utc("2026-05-05T10:00"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"jurisdictions": ["XX"]}, "unknown jurisdiction 'XX'"),
        ({"jurisdictions": ["eu"]}, "unknown jurisdiction 'eu'"),
        ({"jurisdictions": []}, "at least one jurisdiction"),
        ({"jurisdictions": "EU"}, "not a single string"),
        ({"right": "access"}, "unknown right 'access'"),
        ({"received_at": datetime(2026, 1, 15, 9)}, "received_at must be timezone-aware"),
        (
            {"identity_received_at": datetime(2026, 1, 16, 9)},
            "identity_received_at must be timezone-aware",
        ),
        (
            {"identity_requested_at": datetime(2026, 1, 16, 9)},
            "identity_requested_at must be timezone-aware",
        ),
        ({"identity_received_at": utc("2026-01-15T08:59")}, "identity_received_at .* is before received_at"),
        (
            {"identity_requested_at": utc("2026-01-14T09:00")},
            "identity_requested_at .* is before received_at",
        ),
    ],
)
def test_bad_input_is_refused_with_a_clear_value_error(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {
        "jurisdictions": ["EU"],
        "right": "erasure",
        "received_at": utc("2026-01-15T09:00"),
        **kwargs,
    }

    with pytest.raises(ValueError, match=message):
        compute_deadlines(**arguments)  # type: ignore[arg-type]


def test_unknown_jurisdiction_is_its_own_value_error() -> None:
    with pytest.raises(UnknownJurisdiction) as caught:
        compute(["EU", "NZ"], received_at=utc("2026-01-15T09:00"))

    assert caught.value.code == "NZ"
    assert isinstance(caught.value, ValueError)


def test_extension_check_refuses_a_naive_now() -> None:
    deadlines = compute(["EU"], received_at=utc("2026-01-15T09:00"))

    with pytest.raises(ValueError, match="now must be timezone-aware"):
        extension_available(deadlines, now=datetime(2026, 1, 20))


def test_policy_from_mapping_accepts_iso_holidays_and_refuses_unknown_keys() -> None:
    policy = Policy.from_mapping({"holidays": ["2026-12-25", date(2026, 12, 26)], "roll_weekends": False})

    assert policy == Policy(roll_weekends=False, holidays=frozenset({date(2026, 12, 25), date(2026, 12, 26)}))
    with pytest.raises(ValueError, match="unknown deadline policy keys: holiday"):
        Policy.from_mapping({"holiday": []})


@pytest.mark.parametrize(
    "kwargs",
    [
        {"roll_weekends": "yes"},
        {"eu_soft_pause_working_days": -1},
        {"eu_soft_pause_working_days": True},
        {"holidays": {date(2026, 12, 25)}},
        {"holidays": frozenset({datetime(2026, 12, 25, tzinfo=UTC)})},
    ],
)
def test_policy_refuses_values_that_would_silently_shift_deadlines(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="deadline policy"):
        Policy(**kwargs)  # type: ignore[arg-type]


def test_jurisdictions_awaiting_identity_are_listed_in_a_stable_order() -> None:
    # Found by the property test above: the list followed the caller's order.
    received = datetime(2026, 1, 15, 9, tzinfo=UTC)
    results = [
        compute_deadlines(
            jurisdictions=codes,
            right="erasure",
            received_at=received,
            identity_requested_at=received,
            identity_doubt_recorded=True,
        ).awaiting_identity
        for codes in (["EU", "GB"], ["GB", "EU"])
    ]
    assert results == [("EU", "GB"), ("EU", "GB")]
