"""Workspace benchmark: the queue, the request page and a bulk action at scale, each against the bare
SQL query that feeds it, measured in the same run.

Seeds a throwaway PostgreSQL database with --requests open requests (default 100,000) and --events
audit events about them (default 1,000,000), then, signed in as a privacy lead through Django's test
client (the whole stack: middleware, second factor, templates):

- every queue view: p95 of the page, and of its rows' query alone (the page's SQL, run bare);
- the request page of random requests: p95, against the request's row and its events, bare;
- a bulk assignment of 500 requests: p95, against one UPDATE of those 500 rows.

It prints each p95 and the ratio page / bare query, the number of queries each page ran (the queue
needs no query per row, so it is the same for every view) and the load average.

    .venv/bin/python bench/workspace.py [--requests 100000] [--events 1000000] [--samples 20]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from bench._support import (  # noqa: E402
    BenchError,
    django_env,
    manage,
    percentile,
    run_guarded,
    throwaway_database,
)

BATCH = 5000


def _seed(requests: int, events: int) -> list[uuid.UUID]:
    """Open requests in every state and jurisdiction, and `events` log entries spread over them."""
    from django.db import connection

    from ledger import merkle
    from ledger.entries import leaf_payload
    from removal.models import JURISDICTION_CHOICES, OPEN_STATUSES, RemovalRequest, RequestJurisdiction
    from vault.models import DataKey

    states = sorted(OPEN_STATUSES)
    codes = [code for code, _label in JURISDICTION_CHOICES]
    now = datetime.now(UTC)
    ids: list[uuid.UUID] = []
    for start in range(0, requests, BATCH):
        keys = DataKey.objects.bulk_create(
            DataKey(purpose="removal.request", master_key_id="bench", wrapped_key=b"\0" * 40)
            for _ in range(min(BATCH, requests - start))
        )
        rows = []
        for offset, key in enumerate(keys):
            n = start + offset
            received = now - timedelta(minutes=n % (60 * 24 * 60))
            rows.append(
                RemovalRequest(
                    reference=f"RR-B{n:011d}",
                    right="erasure" if n % 5 else "opt_out",
                    channel="web",
                    status=states[n % len(states)],
                    received_at=received,
                    status_changed_at=received,
                    data_key=key,
                    name_enc=b"-",
                    email_enc=b"-",
                    email_blind_index=f"{n:064x}",
                    status_token_hash=f"{n:064x}",
                    respond_by=received + timedelta(days=30),
                    respond_by_set_by="EU",
                )
            )
        created = RemovalRequest.objects.bulk_create(rows)
        RequestJurisdiction.objects.bulk_create(
            RequestJurisdiction(request=request, code=codes[i % len(codes)])
            for i, request in enumerate(created)
        )
        ids.extend(request.id for request in created)
    with (
        connection.cursor() as cursor,
        cursor.copy(
            "COPY ledger_auditevent (event_id, occurred_at, actor, action, object_type, object_id, outcome, "
            "payload, leaf_hash) FROM STDIN"
        ) as copy,
    ):
        actions = [
            "request.received",
            "request.email_confirmed",
            "request.start_verification",
            "request.assigned",
        ]
        for n in range(events):
            request_id = str(ids[n % len(ids)])
            event_id = uuid.uuid4()
            occurred = now - timedelta(seconds=events - n)
            action = actions[(n // len(ids)) % len(actions)]
            payload = leaf_payload(
                event_id=event_id, occurred_at=occurred, actor="system", action=action,
                object_type="removal_request", object_id=request_id, outcome="ok", details={},
            )  # fmt: skip
            copy.write_row(
                (event_id, occurred, "system", action, "removal_request", request_id, "ok", payload,
                 merkle.leaf_hash(payload.encode()))
            )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return ids


def _lead() -> Any:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from removal.roles import PRIVACY_LEAD

    user = get_user_model().objects.create_user("bench-lead", password="a long bench password", is_staff=True)
    user.groups.add(Group.objects.get(name=PRIVACY_LEAD))
    device = TOTPDevice.objects.create(user=user, name="bench", confirmed=True)
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client, user


class _QueryCounter:
    """A database execute wrapper that counts the queries run through it."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        self.count += 1
        return execute(sql, params, many, context)


def _timed(run: Callable[[], Any], samples: int) -> list[float]:
    run()  # warm
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return times


def _bare(sql: str, params: Any, samples: int) -> list[float]:
    from django.db import connection

    def run() -> None:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            cursor.fetchall()

    return _timed(run, samples)


def _line(name: str, page: list[float], bare: list[float], queries: int | None = None) -> None:
    p_page, p_bare = percentile(page, 95), percentile(bare, 95)
    extra = f"  queries {queries}" if queries is not None else ""
    figures = f"p95 {p_page:8.1f} ms   bare SQL p95 {p_bare:7.2f} ms   ratio {p_page / p_bare:7.1f}"
    print(f"{name:<28} {figures}{extra}")


def _get(client: Any, url: str) -> Any:
    response = client.get(url)
    if response.status_code != 200:
        raise BenchError(f"{url} answered {response.status_code}")
    return response


def _run(config: argparse.Namespace) -> int:
    name = f"removal_bench_{os.getpid()}"
    with throwaway_database(name) as url, tempfile.TemporaryDirectory(prefix="workspace-bench-") as var_dir:
        env = django_env(database_url=url, var_dir=Path(var_dir))
        env["DJANGO_ALLOWED_HOSTS"] = "localhost"
        manage(["migrate", "--noinput"], env=env, timeout=900)
        manage(["collectstatic", "--noinput"], env=env, timeout=300)
        os.environ.update(env)
        import django

        django.setup()
        from django.db import connection, connections
        from django.db.models import QuerySet

        from removal.queue import VIEWS, QueueFilters, queue_page

        try:
            started = time.perf_counter()
            ids = _seed(config.requests, config.events)
            print(f"seeded {config.requests:,} open requests and {config.events:,} events "
                  f"in {time.perf_counter() - started:.0f} s")  # fmt: skip
            client, lead = _lead()
            print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
            print(f"{'queue view':<28}")
            for view in VIEWS:
                page_url = f"/staff/queue/?view={view}"
                executed = _QueryCounter()
                with connection.execute_wrapper(executed):
                    _get(client, page_url)
                page = queue_page(view=view, user=lead, filters=QueueFilters(), page=1)
                rows = page.paginator.object_list[: page.paginator.per_page]  # what the page shows
                assert isinstance(rows, QuerySet)
                sql, params = rows.query.sql_with_params()
                _line(
                    f"  {view}",
                    _timed(lambda u=page_url: _get(client, u), config.samples),  # type: ignore[misc]
                    _bare(sql, params, config.samples),
                    executed.count,
                )
            sample_ids = random.Random(7).sample(ids, config.samples + 1)
            pages = iter(sample_ids * 2)
            _line(
                "request page",
                _timed(lambda: _get(client, f"/staff/requests/{next(pages)}/"), config.samples),
                _bare(
                    "SELECT payload, leaf_index FROM ledger_auditevent WHERE object_type = 'removal_request' "
                    "AND object_id = %s ORDER BY id",
                    [str(sample_ids[0])],
                    config.samples,
                ),
            )
            chosen = ids[:500]
            toggle = iter(range(10**6))

            def bulk() -> None:
                response = client.post(
                    "/staff/queue/bulk/",
                    {
                        "bulk-action": "assign",
                        "bulk-assignee": str(lead.pk) if next(toggle) % 2 else "",
                        "selected": [str(i) for i in chosen],
                    },
                )
                if response.status_code != 200 or b"Not done" in response.content:
                    raise BenchError("the bulk assignment did not go through for every request")

            bulk_samples = max(3, config.samples // 4)
            bare_update = _bare(
                "UPDATE removal_removalrequest SET assignee_id = assignee_id WHERE id = ANY(%s) RETURNING id",
                [chosen],
                bulk_samples,
            )
            _line("bulk assign, 500 requests", _timed(bulk, bulk_samples), bare_update)
            print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        finally:
            connections.close_all()
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=3600)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    return run_guarded(lambda: _run(config), timeout=config.timeout)


if __name__ == "__main__":
    sys.exit(main())
