"""Reminder sweep: does its cost follow the reminders due, not the requests open? On PostgreSQL.

Run from the project root:

    .venv/bin/python bench/reminders.py                       # 10,000 due among 10,000, then 1,000,000
    .venv/bin/python bench/reminders.py --large 100000        # a quicker look
    .venv/bin/python bench/reminders.py --repeat 3            # fastest of 3 sweeps per run (busy machine)
    .venv/bin/python bench/reminders.py --cprofile 25         # also the 25 costliest functions

`removal.reminders.reminder_sweep` runs in this process, against a throwaway database, with the same
10,000 reminders due twice: run A among `--small` open requests, run B among `--large`. What it does:

1. creates the database `removal_bench_<pid>` on the PostgreSQL at 127.0.0.1:5432 (trust auth, user
   `postgres`) and runs `manage.py migrate`; Django is then set up in-process with production-style
   settings (DEBUG off, fresh secrets, dummy mail backend, no Redis, a temporary VAR_DIR);
2. fills it with SQL (`INSERT … SELECT generate_series`, `synchronous_commit=off`, in chunks), not the
   ORM: EU erasure requests in open statuses with `respond_by`/`respond_by_extended` set by "EU", a
   third unassigned, and the six reminder rows `reminders_plan` gives such a request (D-14, D-7, D-3,
   D-1, overdue day 1, the extension-decision alarm; points already passed are `sent`). Requests
   1..`--due` are the due ones: each has exactly one reminder due now (D-3, or overdue day 1 for every
   tenth) and its own real data key from `vault.services.data_key_create`, because the sweep seals the
   message with it. Every other request gets a placeholder key row (a request owns its key: the column
   is unique) that nothing decrypts, and dummy name/e-mail ciphertexts, which the sweep never reads.
   The rows of sample requests are checked against what `reminders_plan` itself would plan;
3. VACUUM ANALYZE, then per run: a warm-up sweep of `--warmup` older reminders (D-7 of some due
   requests, swept with an earlier `now`: loads templates and code, not counted); the EXPLAIN (ANALYZE,
   BUFFERS) of the sweep's due query, captured from the sweep itself; then the timed sweep, calling
   `reminder_sweep(now=…, limit=--limit)` until it returns 0, as beat would every few minutes;
4. checks after each timed sweep that exactly the due reminders are `sent`, one outbox message each
   (one opened and read back), the overdue ones planned tomorrow's, nothing due is left pending and the
   due query used the partial index `removal_reminder_due`;
5. for run B, puts the same reminders back to pending (and deletes the messages and the follow-ups
   the sweep planned), adds the other open requests and their reminders, VACUUM ANALYZE, and measures
   again (`--repeat N`: N timed sweeps per run, each after the same reset, the fastest counts); then
   once more with timers around rendering, encryption, the COMMIT and every SQL statement, for where
   the time goes per reminder (`--cprofile N`: and once more under cProfile);
6. prints the figures and the ratio B/A, and drops the database, also after a failure, a timeout or
   Ctrl-C.

The outbox's after-commit enqueue (`notifications.services._enqueue_delivery`, a Celery `apply_async`)
is replaced by a counter in both runs: delivering is the worker's job, not the sweep's, and the bench
has no broker. The counter shows one enqueue per message.

`--timeout` bounds the whole run; each SQL statement has its own limit. Exit status is 0 only when
every check passed, the ratio B/A within `--max-ratio` (the issue's target, 3) included. Timings on
a shared machine move: the load average is printed with them.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import platform
import pstats
import re
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# Run as a script (`python bench/reminders.py`): the project root is not on sys.path by itself.
_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402

from bench._support import (  # noqa: E402
    HOST,
    PG_PORT,
    PG_USER,
    BenchError,
    django_env,
    manage,
    run_guarded,
    server_version,
    throwaway_database,
)

JURISDICTION = "EU"
DUE_INDEX = "removal_reminder_due"
OVERDUE_EVERY = 10  # every tenth due request is overdue: its reminder is "overdue day 1"
STAFF_USERS = 5
STATEMENT_TIMEOUT_MS = 600_000  # any one SQL statement; the whole run has --timeout

_START = time.monotonic()


# --- Configuration --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    small: int
    large: int
    due: int
    warmup: int
    limit: int
    chunk: int
    timeout: float
    max_ratio: float
    cprofile: int
    repeat: int

    @property
    def deadline(self) -> float:
        return _START + self.timeout


def parse_args(argv: list[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(
        description="Time removal.reminders.reminder_sweep with the same reminders due among few and "
        "among many open requests (PostgreSQL, in-process).",
    )
    parser.add_argument("--small", type=int, default=10_000, help="open requests in run A (default 10000)")
    parser.add_argument(
        "--large", type=int, default=1_000_000, help="open requests in run B (default 1000000)"
    )
    parser.add_argument(
        "--due", type=int, default=10_000, help="reminders due in both runs, one per request (default 10000)"
    )
    parser.add_argument(
        "--warmup", type=int, default=200, help="older reminders swept first, not counted (default 200)"
    )
    parser.add_argument(
        "--limit", type=int, default=1000, help="reminder_sweep(limit=…) per call, the app's default (1000)"
    )
    parser.add_argument("--chunk", type=int, default=100_000, help="requests per insert transaction")
    parser.add_argument(
        "--timeout", type=float, default=1800.0, help="hard limit on the whole run, seconds (default 1800)"
    )
    parser.add_argument(
        "--max-ratio", type=float, default=3.0, help="fail if time B / time A exceeds this (0: report only)"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="timed sweeps per run, the fastest counts (default 1)"
    )
    parser.add_argument(
        "--cprofile", type=int, default=0, metavar="N", help="one more sweep under cProfile: print top N"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.due <= args.small <= args.large:
        parser.error("need 1 <= --due <= --small <= --large")
    if args.large > 2_000_000:
        parser.error("--large is capped at 2,000,000")
    if not 0 <= args.warmup <= args.due - args.due // OVERDUE_EVERY:
        parser.error("--warmup must be between 0 and the number of due requests that are not overdue")
    if (
        args.repeat < 1
        or args.limit < 1
        or args.chunk < 1
        or args.timeout <= 0
        or args.max_ratio < 0
        or args.cprofile < 0
    ):
        parser.error("--repeat, --limit, --chunk, --timeout must be positive; --max-ratio, --cprofile >= 0")
    return Config(
        small=args.small,
        large=args.large,
        due=args.due,
        warmup=args.warmup,
        limit=args.limit,
        chunk=args.chunk,
        timeout=args.timeout,
        max_ratio=args.max_ratio,
        cprofile=args.cprofile,
        repeat=args.repeat,
    )


def remaining(config: Config, cap: float) -> float:
    left = config.deadline - time.monotonic()
    if left <= 0:
        raise BenchError(f"hard timeout of {config.timeout:.0f} s reached")
    return min(cap, left)


# --- Data -----------------------------------------------------------------------------------------
#
# Request i (1-based) has its response due at the end of local day `today + dd` in Brussels:
#   i <= due, every tenth: dd = -1 (overdue since yesterday: "overdue day 1" is due at today's start)
#   i <= due, otherwise:   dd = 2 or 3 (D-3 is due at the start of yesterday or today; D-1 is tomorrow+)
#   i > due:               dd = 15 .. 74 (every reminder in the future)
# Its id is md5('req-' || i): as scattered as the app's uuid4s.

_DD = sql.SQL(
    "CASE WHEN i <= %(due)s AND i %% {every} = 0 THEN -1 WHEN i <= %(due)s THEN 2 + i %% 2"
    " ELSE 15 + i %% 60 END"
).format(every=sql.Literal(OVERDUE_EVERY))

_TODAY = sql.SQL("SELECT date_trunc('day', %(now)s::timestamptz AT TIME ZONE %(zone)s) AS today")

_PLACEHOLDER_KEYS = sql.SQL(
    """
INSERT INTO vault_datakey (id, purpose, master_key_id, wrapped_key, created_at, shredded_at)
SELECT md5('dk-' || i)::uuid, 'removal.request', %(master_key_id)s,
       decode(md5('a' || i) || md5('b' || i) || md5('c' || i) || left(md5('d' || i), 24), 'hex'),
       %(now)s::timestamptz - interval '40 days', NULL
FROM generate_series(%(lo)s::int, %(hi)s::int) AS i
"""
)

_REQUESTS = sql.SQL(
    """
WITH t AS ({today}),
src AS ({source}),
r AS (SELECT src.i, src.key_id, {dd} AS dd FROM src),
d AS (
  SELECT r.i, r.key_id,
    (t.today + (r.dd + 1) * interval '1 day' - interval '1 microsecond') AT TIME ZONE %(zone)s
      AS respond_by,
    (t.today + r.dd * interval '1 day' + interval '2 months 1 day' - interval '1 microsecond')
      AT TIME ZONE %(zone)s AS respond_by_extended,
    (t.today + r.dd * interval '1 day' - interval '1 month' + interval '10 hours') AT TIME ZONE %(zone)s
      AS received_at
  FROM r CROSS JOIN t
)
INSERT INTO removal_removalrequest (
  id, reference, "right", channel, status, language, received_at, status_changed_at,
  name_enc, email_enc, email_blind_index, email_confirmed_at, status_token_hash, denial_basis,
  denial_note_enc, clock_started_at, acknowledge_by, respond_by, respond_by_extended,
  acknowledge_by_set_by, respond_by_set_by, respond_by_extended_set_by, data_key_id, logged_by_id,
  assignee_id, extended_at, extension_reason, identity_doubt, identity_received_at,
  identity_requested_at, pending_ask)
SELECT
  md5('req-' || i)::uuid, 'RB-' || lpad(i::text, 9, '0'), 'erasure', 'web',
  (ARRAY['received', 'verifying', 'verified', 'discovering', 'awaiting_review'])[1 + i %% 5],
  'en', received_at, received_at,
  decode(md5('name-' || i) || md5('name2-' || i), 'hex'),
  decode(md5('email-' || i) || md5('email2-' || i), 'hex'),
  encode(sha256(convert_to('email-' || i, 'UTF8')), 'hex'), received_at,
  encode(sha256(convert_to('token-' || i, 'UTF8')), 'hex'), '',
  NULL, received_at, NULL, respond_by, respond_by_extended,
  '', %(jurisdiction)s, %(jurisdiction)s, key_id, NULL,
  CASE WHEN i %% 3 = 0 THEN NULL
       ELSE (%(users)s::int[])[1 + i %% cardinality(%(users)s::int[])] END,
  NULL, '', '', NULL, NULL, ''
FROM d
"""
)

_SOURCE_PLACEHOLDER = sql.SQL(
    "SELECT i, md5('dk-' || i)::uuid AS key_id FROM generate_series(%(lo)s::int, %(hi)s::int) AS i"
)
_SOURCE_REAL = sql.SQL(
    "SELECT k.i::int AS i, k.key_id FROM unnest(%(keys)s::uuid[]) WITH ORDINALITY AS k(key_id, i)"
)

_REMINDERS = sql.SQL(
    """
WITH t AS ({today}),
r AS (
  SELECT i, md5('req-' || i)::uuid AS request_id, {dd} AS dd
  FROM generate_series(%(lo)s::int, %(hi)s::int) AS i
),
p (deadline, days_before) AS (
  VALUES ('respond_by', 14), ('respond_by', 7), ('respond_by', 3), ('respond_by', 1), ('respond_by', -1),
         ('extension_decision', 7)
),
x AS (
  SELECT r.request_id, p.deadline, p.days_before,
    (t.today + (r.dd - p.days_before) * interval '1 day') AT TIME ZONE %(zone)s AS due_at,
    (r.i <= %(due)s AND p.deadline = 'respond_by'
      AND p.days_before = CASE WHEN r.dd < 0 THEN -1 ELSE 3 END) AS is_due,
    (r.i <= %(due)s AND r.dd >= 0 AND r.i - r.i / {every} <= %(warmup)s
      AND p.deadline = 'respond_by' AND p.days_before = 7) AS is_warmup
  FROM r CROSS JOIN p CROSS JOIN t
)
INSERT INTO removal_reminder (request_id, deadline, days_before, due_at, status, lease_expires_at,
                              sent_at, recipient_kind)
SELECT request_id, deadline, days_before, due_at,
  CASE WHEN is_due OR is_warmup OR due_at > %(now)s THEN 'pending' ELSE 'sent' END,
  NULL,
  CASE WHEN NOT (is_due OR is_warmup) AND due_at <= %(now)s THEN due_at END,
  CASE WHEN NOT (is_due OR is_warmup) AND due_at <= %(now)s THEN 'team' ELSE '' END
FROM x
"""
)


def _requests_sql(source: sql.Composable) -> sql.Composed:
    return _REQUESTS.format(today=_TODAY, source=source, dd=_DD)


def _reminders_sql() -> sql.Composed:
    return _REMINDERS.format(today=_TODAY, dd=_DD, every=sql.Literal(OVERDUE_EVERY))


# --- Measuring ------------------------------------------------------------------------------------


@dataclass
class Sweep:
    queued: int = 0
    calls: int = 0
    elapsed: float = 0.0
    enqueued: int = 0


@dataclass
class Attempt:
    """One timed sweep of the due reminders, after its own reset, VACUUM ANALYZE and warm-up."""

    warmup: Sweep = field(default_factory=Sweep)
    sweep: Sweep = field(default_factory=Sweep)
    plan: str = ""
    plan_ms: float | None = None
    stats: dict[str, int] = field(default_factory=dict)
    # Blocks (hit, read) per table and index during the timed sweep, from pg_statio_user_*.
    io: dict[str, tuple[int, int]] = field(default_factory=dict)
    checks: dict[str, tuple[int, int]] = field(default_factory=dict)


@dataclass
class Run:
    label: str
    open_requests: int
    reminder_rows: int = 0
    populate_s: float = 0.0
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def best(self) -> Attempt:
        return min(self.attempts, key=lambda a: a.sweep.elapsed)


class Timers:
    """Wall time and calls per label, from wrappers around functions and SQL statements."""

    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()

    def wrap(self, label: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - began
                self.calls[label] += 1

        return timed

    def sql(self, execute: Callable[..., Any], sql_text: str, params: Any, many: bool, context: Any) -> Any:
        label = "SQL " + sql_label(sql_text)
        began = time.perf_counter()
        try:
            return execute(sql_text, params, many, context)
        finally:
            self.seconds[label] += time.perf_counter() - began
            self.calls[label] += 1


_WHERE_COLUMN = re.compile(r"(?:\w+\.)?(\w+) (?:=|<=|<|>=|>|IN) ")


def sql_label(text: str) -> str:
    """A short name for a statement: verb, table, columns set or filtered on."""
    s = " ".join(text.replace('"', "").split())
    verb = s.split(" ", 1)[0].upper()
    table = re.search(r"\b(?:FROM|INTO|UPDATE) (\w+)", s)
    label = f"{verb} {table.group(1) if table else '?'}"
    joins = re.findall(r"JOIN (\w+)", s)
    if joins:
        label += " JOIN " + ", ".join(joins)
    if verb == "UPDATE":
        set_part = s.split(" SET ", 1)[1].split(" WHERE ", 1)[0]
        label += " SET " + ",".join(dict.fromkeys(re.findall(r"(\w+) = ", set_part)))
    if verb == "INSERT" and "ON CONFLICT" in s:
        label += " ON CONFLICT DO NOTHING"
    if " WHERE " in s:
        where = re.split(r" (?:ORDER BY|LIMIT|RETURNING) ", s.split(" WHERE ", 1)[1])[0]
        label += " WHERE " + ",".join(dict.fromkeys(_WHERE_COLUMN.findall(where)))
    if " LIMIT " in s:
        label += " LIMIT"
    return label


class Bench:
    def __init__(self, *, config: Config, db_name: str) -> None:
        self.config = config
        self.db_name = db_name
        self.pg: psycopg.Connection | None = None
        self.enqueued = 0
        self.due_ids: list[int] = []
        self.warmup_ids: list[int] = []
        self.sweep_sql: tuple[str, tuple[Any, ...]] | None = None
        self.failures: list[str] = []
        # Set once Django is up and the first rows exist.
        self.now = datetime.min.replace(tzinfo=UTC)
        self.warmup_now = self.now
        self.zone = ""
        self.users: list[int] = []
        self.master_key_id = ""

    # -- set-up ----------------------------------------------------------------------------------

    def start_django(self, env: dict[str, str]) -> None:
        os.environ.update(env)
        import django

        django.setup()
        from django.db import connection
        from django.utils import timezone

        import notifications.services

        def count_enqueue(message_id: str, *, countdown: float | None = None) -> None:
            self.enqueued += 1

        # The on_commit hook looks the function up in its module at call time.
        notifications.services._enqueue_delivery = count_enqueue
        with connection.cursor() as cursor:
            cursor.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")
        self.now = timezone.now()
        from removal.deadlines import JURISDICTIONS

        self.zone = JURISDICTIONS[JURISDICTION].zone
        today = self.now.astimezone(_zoneinfo(self.zone)).replace(hour=0, minute=0, second=0, microsecond=0)
        # Between the warm-up reminders (D-7 of due requests, days -5/-4) and the due ones (days -1/0).
        self.warmup_now = _start_of_local_day(today - timedelta(days=4), self.zone)

    def connect_pg(self) -> psycopg.Connection:
        pg = psycopg.connect(
            host=HOST, port=PG_PORT, user=PG_USER, dbname=self.db_name, autocommit=True, connect_timeout=10
        )
        pg.execute("SET synchronous_commit = off")  # this session only: populating, not the sweep
        pg.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")
        pg.execute("SET maintenance_work_mem = '256MB'")
        self.pg = pg
        return pg

    def close(self) -> None:
        if self.pg is not None:
            self.pg.close()
        if "django" in sys.modules:
            from django.db import connections

            connections.close_all()

    def _params(self, **extra: object) -> dict[str, object]:
        return {
            "now": self.now,
            "zone": self.zone,
            "due": self.config.due,
            "warmup": self.config.warmup,
            "jurisdiction": JURISDICTION,
            "users": self.users,
            **extra,
        }

    # -- populating ------------------------------------------------------------------------------

    def populate_a(self) -> float:
        """Staff users, the due requests with real data keys, then the rest of run A's open requests."""
        from django.contrib.auth import get_user_model
        from django.db import transaction

        from vault.services import data_key_create

        assert self.pg is not None
        began = time.perf_counter()
        user_model = get_user_model()
        self.users = [
            user_model.objects.create_user(
                username=f"staff{n}", email=f"staff{n}@example.com", is_staff=True
            ).pk
            for n in range(1, STAFF_USERS + 1)
        ]
        keys_began = time.perf_counter()
        with transaction.atomic():
            keys = [data_key_create(purpose="removal.request") for _ in range(self.config.due)]
        self.master_key_id = keys[0].master_key_id
        print(
            f"  {len(keys)} data keys through vault.services.data_key_create: "
            f"{time.perf_counter() - keys_began:.1f} s",
            flush=True,
        )
        with self.pg.transaction():
            self.pg.execute(_requests_sql(_SOURCE_REAL), self._params(keys=[k.id for k in keys]))
            self.pg.execute(_reminders_sql(), self._params(lo=1, hi=self.config.due))
        self._populate_placeholders(self.config.due, self.config.small)
        return time.perf_counter() - began

    def populate_b(self) -> float:
        began = time.perf_counter()
        self._populate_placeholders(self.config.small, self.config.large)
        return time.perf_counter() - began

    def _populate_placeholders(self, after: int, upto: int) -> None:
        assert self.pg is not None
        for lo in range(after + 1, upto + 1, self.config.chunk):
            remaining(self.config, 1)
            hi = min(lo + self.config.chunk - 1, upto)
            began = time.perf_counter()
            params = self._params(lo=lo, hi=hi, master_key_id=self.master_key_id)
            with self.pg.transaction():
                self.pg.execute(_PLACEHOLDER_KEYS, params)
                self.pg.execute(_requests_sql(_SOURCE_PLACEHOLDER), params)
                self.pg.execute(_reminders_sql(), params)
            print(f"  requests {lo}..{hi}: {time.perf_counter() - began:.1f} s", flush=True)

    def vacuum_analyze(self) -> float:
        assert self.pg is not None
        began = time.perf_counter()
        self.pg.execute("VACUUM (ANALYZE)")  # this database only; autovacuum is off on this server
        return time.perf_counter() - began

    def setting(self, name: str) -> str:
        """A setting as the sweep's own session sees it."""
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting(%s)", [name])
            row = cursor.fetchone()
        return str(row[0]) if row else "?"

    def count(self, query: str, params: tuple[Any, ...] | None = None) -> int:
        assert self.pg is not None
        row = self.pg.execute(query, params).fetchone()
        return int(row[0]) if row else 0

    def find_due(self) -> None:
        """Note the ids of the warm-up and due reminders, and check there are exactly as many as asked."""
        assert self.pg is not None
        query = "SELECT id FROM removal_reminder WHERE status = 'pending' AND due_at <= %s AND due_at > %s"
        far_past = self.now - timedelta(days=3650)
        self.warmup_ids = [r[0] for r in self.pg.execute(query, (self.warmup_now, far_past))]
        self.due_ids = [r[0] for r in self.pg.execute(query, (self.now, self.warmup_now))]
        distinct = self.count(
            "SELECT count(DISTINCT request_id) FROM removal_reminder WHERE id = ANY(%s)", (self.due_ids,)
        )
        if len(self.warmup_ids) != self.config.warmup:
            raise BenchError(f"{len(self.warmup_ids)} warm-up reminders planted, not {self.config.warmup}")
        if len(self.due_ids) != self.config.due or distinct != self.config.due:
            raise BenchError(
                f"{len(self.due_ids)} due reminders on {distinct} requests planted, not {self.config.due}"
            )

    def check_against_planner(self) -> None:
        """The synthetic rows must be what `reminders_plan` plans for such a request (rolled back)."""
        from django.db import transaction

        from removal.models import Reminder, RemovalRequest
        from removal.reminders import reminders_plan

        # Overdue ones are left out: the planner would put their first overdue reminder at `now`.
        samples = sorted(
            i
            for i in {1, 2, self.config.due + 1, self.config.small}
            if i <= self.config.small and not (i <= self.config.due and i % OVERDUE_EVERY == 0)
        )
        for i in samples:
            with transaction.atomic():
                request = RemovalRequest.objects.get(reference=f"RB-{i:09d}")
                ours = set(
                    Reminder.objects.filter(
                        request=request, status=Reminder.Status.PENDING, due_at__gt=self.now
                    ).values_list("deadline", "days_before", "due_at")
                )
                reminders_plan(request=request, now=self.now)
                # The plan replaces pending rows; rows already sent stay as they are.
                planned = set(
                    Reminder.objects.filter(request=request, status=Reminder.Status.PENDING).values_list(
                        "deadline", "days_before", "due_at"
                    )
                )
                transaction.set_rollback(True)
            if ours != planned:
                raise BenchError(
                    f"synthetic reminders of request {i} differ from reminders_plan's:\n"
                    f"  ours:    {sorted(ours)}\n  planned: {sorted(planned)}"
                )
        print(f"  reminder rows of requests {samples} match reminders_plan", flush=True)

    def reset(self) -> None:
        """Put the same warm-up and due reminders back to pending; forget what the last sweep wrote."""
        assert self.pg is not None
        with self.pg.transaction():
            self.pg.execute(
                "UPDATE removal_reminder SET status = 'pending', sent_at = NULL, lease_expires_at = NULL,"
                " recipient_kind = '' WHERE id = ANY(%s)",
                (self.due_ids + self.warmup_ids,),
            )
            # The follow-ups the sweep planned for overdue reminders ("overdue day 2"); none otherwise.
            self.pg.execute("DELETE FROM removal_reminder WHERE days_before = -2")
            self.pg.execute("DELETE FROM notifications_message")

    # -- sweeping --------------------------------------------------------------------------------

    def sweep(self, now: datetime) -> Sweep:
        from removal.reminders import reminder_sweep

        result = Sweep()
        enqueued_before = self.enqueued
        max_calls = self.config.due // self.config.limit + 10
        began = time.perf_counter()
        while True:
            queued = reminder_sweep(now=now, limit=self.config.limit)
            result.calls += 1
            result.queued += queued
            if queued == 0:
                break
            if result.calls >= max_calls:
                raise BenchError(f"reminder_sweep still queueing after {result.calls} calls")
            remaining(self.config, 1)
        result.elapsed = time.perf_counter() - began
        result.enqueued = self.enqueued - enqueued_before
        return result

    @contextmanager
    def capture_due_query(self) -> Iterator[None]:
        from django.db import connection

        def capture(execute: Callable[..., Any], sql_text: str, params: Any, many: bool, context: Any) -> Any:
            if (
                self.sweep_sql is None
                and sql_text.startswith("SELECT")
                and " LIMIT " in sql_text
                and '"removal_reminder"."due_at" <=' in sql_text
            ):
                self.sweep_sql = (sql_text, tuple(params))
            return execute(sql_text, params, many, context)

        with connection.execute_wrapper(capture):
            yield

    def explain(self) -> tuple[str, float | None]:
        """EXPLAIN (ANALYZE, BUFFERS) of the due query as the sweep sent it, with the run's `now`."""
        from django.db import connection

        if self.sweep_sql is None:
            raise BenchError("the sweep's due query was not seen")
        text, params = self.sweep_sql
        params = tuple(self.now if isinstance(p, datetime) else p for p in params)
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + text, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        match = re.search(r"Execution Time: ([\d.]+) ms", plan)
        return plan, float(match.group(1)) if match else None

    def db_stats(self) -> dict[str, int]:
        """This database's block and row counters (pg_stat_database), flushed first.

        Both sessions flush: the bench's own (reset, checks) would otherwise report its counts up to
        ten seconds later, inside the next timed window.
        """
        from django.db import connection

        assert self.pg is not None
        self.pg.execute("SELECT pg_stat_force_next_flush()")
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_force_next_flush()")
        time.sleep(0.1)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT d.blks_hit, d.blks_read, d.xact_commit, d.tup_inserted, d.tup_updated,"
                "       t.n_tup_upd, t.n_tup_hot_upd"
                " FROM pg_stat_database d, pg_stat_user_tables t"
                " WHERE d.datname = current_database() AND t.relname = 'removal_reminder'"
            )
            row = cursor.fetchone()
        keys = (
            "blks_hit",
            "blks_read",
            "xact_commit",
            "tup_inserted",
            "tup_updated",
            "reminder_updates",
            "reminder_hot_updates",
        )
        return dict(zip(keys, (int(v) for v in row), strict=True)) if row else {}

    def io_stats(self) -> dict[str, tuple[int, int]]:
        """Blocks hit and read per table (heap) and index; call after db_stats(), which flushes."""
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT relname, coalesce(heap_blks_hit, 0), coalesce(heap_blks_read, 0)"
                " FROM pg_statio_user_tables"
                " UNION ALL SELECT indexrelname, coalesce(idx_blks_hit, 0), coalesce(idx_blks_read, 0)"
                " FROM pg_statio_user_indexes"
            )
            return {str(name): (int(hit), int(read)) for name, hit, read in cursor.fetchall()}

    def verify(self, label: str, run: Attempt) -> None:
        """After a timed sweep: every due reminder sent once, one message each, nothing due left."""
        assert self.pg is not None
        due = self.config.due
        overdue = due // OVERDUE_EVERY
        row = self.pg.execute(
            "SELECT count(*) FILTER (WHERE id = ANY(%(due)s) AND status = 'sent' AND sent_at = %(now)s),"
            "       count(*) FILTER (WHERE status = 'pending' AND due_at <= %(now)s),"
            "       count(*) FILTER (WHERE status = 'sending'),"
            "       count(*) FILTER (WHERE days_before = -2 AND status = 'pending' AND due_at > %(now)s),"
            "       count(*) FILTER (WHERE status = 'cancelled')"
            " FROM removal_reminder",
            {"due": self.due_ids, "now": self.now},
        ).fetchone()
        assert row is not None
        sent, still_due, sending, followups, cancelled = (int(v) for v in row)
        messages = self.count(
            "SELECT count(*) FROM notifications_message WHERE template = 'removal/emails/staff_reminder'"
        )
        about = self.count("SELECT count(DISTINCT about) FROM notifications_message")
        run.checks = {
            "due reminders sent": (sent, due),
            "sweep returned": (run.sweep.queued, due),
            "messages enqueued after commit": (run.sweep.enqueued, due),
            "outbox messages (incl. warm-up)": (messages, due + self.config.warmup),
            "requests with a message": (about, due),
            "pending and due afterwards": (still_due, 0),
            "left in 'sending'": (sending, 0),
            "cancelled": (cancelled, 0),
            "overdue day 2 planned": (followups, overdue),
            "warm-up swept": (run.warmup.queued, self.config.warmup),
        }
        for name, (got, expected) in run.checks.items():
            if got != expected:
                self.failures.append(f"run {label}: {name}: {got}, expected {expected}")
        self._check_one_message(label)
        if DUE_INDEX not in run.plan or "Seq Scan" in run.plan:
            self.failures.append(f"run {label}: the due query does not use the index {DUE_INDEX}")

    def _check_one_message(self, label: str) -> None:
        """Open one queued message with its request's data key: it must be the staff reminder."""
        from notifications.models import Message
        from notifications.selectors import message_content
        from removal.models import RemovalRequest

        message = Message.objects.select_related("data_key").order_by("-created_at").first()
        if message is None:
            self.failures.append(f"run {label}: no message to open")
            return
        request = RemovalRequest.objects.select_related("assignee").get(
            id=message.about.removeprefix("removal.request:")
        )
        content = message_content(message=message)
        expected_to = request.assignee.email if request.assignee else None
        if request.reference not in content.body_text or (expected_to and content.recipient != expected_to):
            self.failures.append(f"run {label}: message {message.id} does not read back as expected")

    # -- the runs --------------------------------------------------------------------------------

    def measure(self, run: Run) -> None:
        for number in range(self.config.repeat):
            remaining(self.config, 1)
            if number:
                self.reset()
                self.vacuum_analyze()
            attempt = Attempt()
            with self.capture_due_query():
                attempt.warmup = self.sweep(self.warmup_now)
            attempt.plan, attempt.plan_ms = self.explain()
            before, io_before = self.db_stats(), self.io_stats()
            attempt.sweep = self.sweep(self.now)
            after, io_after = self.db_stats(), self.io_stats()
            attempt.stats = {k: after[k] - before[k] for k in before}
            attempt.io = {
                name: (hit - io_before.get(name, (0, 0))[0], read - io_before.get(name, (0, 0))[1])
                for name, (hit, read) in io_after.items()
            }
            self.verify(run.label, attempt)
            run.attempts.append(attempt)
            s = attempt.sweep
            print(
                f"  run {run.label}: {s.queued} reminders in {s.elapsed:.2f} s "
                f"({s.queued / s.elapsed:.0f}/s, {1000 * s.elapsed / max(s.queued, 1):.2f} ms each, "
                f"{s.calls} calls)",
                flush=True,
            )

    def profile(self) -> tuple[Timers, Sweep]:
        """Sweep again with timers around the parts of one reminder's work and every SQL statement."""
        from django.db import connection

        import notifications.services
        import removal.reminders
        import vault.services

        timers = Timers()
        patches: list[tuple[object, str, object]] = [
            (notifications.services, "render_to_string", "render template (subject, text, html)"),
            (notifications.services, "sealer_for", "unwrap data key (sealer_for)"),
            (vault.services.Sealer, "seal", "seal field (AES-GCM)"),
            (removal.reminders, "reverse", "reverse() for the admin URL"),
            (removal.reminders, "_open_deadlines", "_open_deadlines (due date for the text)"),
            (connection, "_commit", "COMMIT of the atomic block"),
        ]
        originals = []
        for owner, name, label in patches:
            original = getattr(owner, name)
            originals.append((owner, name, original, name in vars(owner)))
            setattr(owner, name, timers.wrap(str(label), original))
        try:
            with connection.execute_wrapper(timers.sql):
                result = self.sweep(self.now)
        finally:
            for owner, name, original, own in originals:
                if own:
                    setattr(owner, name, original)
                else:
                    delattr(owner, name)  # an instance attribute over the class's method
        return timers, result

    def cprofile(self, top: int) -> str:
        profiler = cProfile.Profile()
        profiler.enable()
        try:
            self.sweep(self.now)
        finally:
            profiler.disable()
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("tottime").print_stats(top)
        return out.getvalue()


def _zoneinfo(zone: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(zone)


def _start_of_local_day(day: datetime, zone: str) -> datetime:
    return datetime.combine(day.date(), datetime.min.time(), tzinfo=_zoneinfo(zone))


# --- Report ---------------------------------------------------------------------------------------


def print_run(run: Run, config: Config) -> None:
    print(f"-- run {run.label}: {run.open_requests:,} open requests, {run.reminder_rows:,} reminder rows --")
    print(f"populate       : {run.populate_s:.1f} s (then VACUUM ANALYZE)")
    for number, attempt in enumerate(run.attempts, 1):
        s, w, st = attempt.sweep, attempt.warmup, attempt.stats
        per = max(s.queued, 1)
        tag = f"sweep {number}/{len(run.attempts)}" if len(run.attempts) > 1 else "sweep"
        print(
            f"{tag:<15}: {s.queued:,} reminders in {s.elapsed:.2f} s = "
            f"{s.queued / s.elapsed:.0f} reminders/s, {1000 * s.elapsed / per:.2f} ms per reminder "
            f"({s.calls} calls, limit {config.limit}; warm-up {w.queued} in {w.elapsed:.2f} s, not counted)"
        )
        if st:
            print(
                f"{'  database':<15}: {st['blks_hit']:,} blocks hit, {st['blks_read']:,} read "
                f"({st['blks_hit'] / per:.1f} / {st['blks_read'] / per:.2f} per reminder); "
                f"{st['xact_commit']:,} commits ({st['xact_commit'] / per:.1f} per reminder), "
                f"{st['tup_inserted']:,} rows inserted, {st['tup_updated']:,} updated "
                f"(removal_reminder: {st['reminder_updates']:,} updates, {st['reminder_hot_updates']:,} HOT)"
            )
    io = run.best.io
    if io:
        per = max(run.best.sweep.queued, 1)
        top = sorted(io.items(), key=lambda kv: (-kv[1][1], -kv[1][0]))[:8]
        print(
            "  reads by relation (blocks read / hit per reminder, fastest sweep; shared_buffers misses): "
            + ", ".join(f"{name} {read / per:.2f}/{hit / per:.1f}" for name, (hit, read) in top)
        )
    first = run.attempts[0]
    print(f"due query plan (before sweep 1; {first.plan_ms} ms):")
    for line in first.plan.splitlines():
        print(f"    {line}")
    last = run.attempts[-1]
    print("checks         : " + "; ".join(f"{name} {got}/{exp}" for name, (got, exp) in last.checks.items()))


def print_profile(timers: Timers, sweep: Sweep) -> None:
    per = max(sweep.queued, 1)
    total = sweep.elapsed
    print(
        f"-- where the time goes (run B data, {sweep.queued:,} reminders in {total:.2f} s with timers on, "
        f"{1000 * total / per:.2f} ms each) --"
    )
    all_sql = "all SQL statements above (round trips, autocommit COMMITs included)"
    rest = "the rest: Python in the ORM (query building, model instances), template context, loop"
    rows = sorted(timers.seconds.items(), key=lambda kv: -kv[1])
    width = max(len(all_sql), len(rest), *(len(label) for label, _ in rows))
    print(f"{'part':<{width}} {'calls':>7} {'/rem':>5} {'µs/rem':>8} {'share':>6}")
    accounted = 0.0
    sql_total, sql_calls = 0.0, 0
    for label, seconds in rows:
        calls = timers.calls[label]
        if label.startswith("SQL "):
            sql_total += seconds
            sql_calls += calls
        # The timers do not nest (no SQL is issued while rendering or sealing): their sum is what
        # they account for.
        accounted += seconds
        print(
            f"{label:<{width}} {calls:>7} {calls / per:>5.2f} {1e6 * seconds / per:>8.0f} "
            f"{100 * seconds / total:>5.1f}%"
        )
    print(
        f"{all_sql:<{width}} {sql_calls:>7} {sql_calls / per:>5.2f} {1e6 * sql_total / per:>8.0f} "
        f"{100 * sql_total / total:>5.1f}%"
    )
    other = total - accounted
    print(f"{rest:<{width}} {'':>7} {'':>5} {1e6 * other / per:>8.0f} {100 * other / total:>5.1f}%")


# --- Main -----------------------------------------------------------------------------------------


def _run(config: Config) -> int:
    pg_version = server_version()
    db_name = f"removal_bench_{os.getpid()}"
    var_dir = Path(tempfile.mkdtemp(prefix="removal-bench-"))
    (var_dir / "static").mkdir()
    try:
        with throwaway_database(db_name) as database_url:
            env = django_env(database_url=database_url, var_dir=var_dir)
            print(f"database {db_name}: migrating ...", flush=True)
            manage(["migrate", "--noinput"], env=env, timeout=remaining(config, 180))
            bench = Bench(config=config, db_name=db_name)
            try:
                bench.start_django(env)
                bench.connect_pg()
                return _runs(bench, config, pg_version)
            finally:
                bench.close()
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)


def _runs(bench: Bench, config: Config, pg_version: str) -> int:
    a = Run(label="A", open_requests=config.small)
    b = Run(label="B", open_requests=config.large)

    print(
        f"run A: populating {config.small:,} open requests ({config.due:,} with a reminder due) ...",
        flush=True,
    )
    a.populate_s = bench.populate_a()
    vacuum_s = bench.vacuum_analyze()
    print(f"  populated in {a.populate_s:.1f} s, VACUUM ANALYZE {vacuum_s:.1f} s", flush=True)
    bench.find_due()
    bench.check_against_planner()
    a.reminder_rows = bench.count("SELECT count(*) FROM removal_reminder")
    bench.measure(a)

    print(f"run B: adding {config.large - config.small:,} open requests ...", flush=True)
    bench.reset()
    b.populate_s = bench.populate_b()
    vacuum_s = bench.vacuum_analyze()
    print(f"  populated in {b.populate_s:.1f} s, VACUUM ANALYZE {vacuum_s:.1f} s", flush=True)
    bench.find_due()
    b.reminder_rows = bench.count("SELECT count(*) FROM removal_reminder")
    bench.measure(b)

    print("profile: the same reminders once more, with timers ...", flush=True)
    bench.reset()
    bench.vacuum_analyze()
    bench.sweep(bench.warmup_now)
    timers, profiled = bench.profile()
    cprofile_text = ""
    if config.cprofile:
        print("cProfile: once more ...", flush=True)
        bench.reset()
        bench.vacuum_analyze()
        bench.sweep(bench.warmup_now)
        cprofile_text = bench.cprofile(config.cprofile)

    best_a, best_b = a.best.sweep, b.best.sweep
    ratio = best_b.elapsed / best_a.elapsed
    print()
    print(
        "== Reminder sweep benchmark: removal.reminders.reminder_sweep (in-process, PostgreSQL, 127.0.0.1) =="
    )
    print(
        f"machine        : {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"PostgreSQL {pg_version} "
        f"(shared_buffers {bench.setting('shared_buffers')}, synchronous_commit "
        f"{bench.setting('synchronous_commit')} for the sweep)"
    )
    print(
        "load average   : {:.2f} {:.2f} {:.2f} (1, 5, 15 min) at the end of the run".format(*os.getloadavg())
    )
    print(
        f"data           : {config.due:,} reminders due now on {config.due:,} requests "
        f"({config.due // OVERDUE_EVERY:,} overdue day 1, the rest D-3); 6 reminder rows per request; "
        f"now = {bench.now.isoformat(timespec='seconds')}"
    )
    print("enqueue        : notifications.services._enqueue_delivery replaced by a counter (no broker)")
    print()
    for run in (a, b):
        print_run(run, config)
        print()
    print_profile(timers, profiled)
    if cprofile_text:
        print()
        print(f"-- cProfile, top {config.cprofile} by own time (another sweep of the same reminders) --")
        print(cprofile_text.rstrip())
    print()
    best_of = f", fastest of {config.repeat}" if config.repeat > 1 else ""
    for run, best in ((a, best_a), (b, best_b)):
        print(
            f"run {run.label}          : {best.elapsed:.2f} s for {best.queued:,} reminders due among "
            f"{run.open_requests:,} open requests ({best.queued / best.elapsed:.0f} reminders/s, "
            f"{1000 * best.elapsed / max(best.queued, 1):.2f} ms each{best_of})"
        )
    target = f" (target: within {config.max_ratio:g}x)" if config.max_ratio else ""
    print(
        f"ratio B / A    : {ratio:.2f}x for {b.open_requests / a.open_requests:.0f}x "
        f"the open requests{target}"
    )
    if config.max_ratio and ratio > config.max_ratio:
        bench.failures.append(f"ratio B / A {ratio:.2f} exceeds {config.max_ratio:g}")
    print(f"checks         : {'all passed' if not bench.failures else 'FAILED'}")
    for failure in bench.failures:
        print(f"  - {failure}")
    return 1 if bench.failures else 0


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    return run_guarded(lambda: _run(config), timeout=config.timeout)


if __name__ == "__main__":
    sys.exit(main())
