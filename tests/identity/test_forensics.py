"""The ID photo is never kept: after a batch of real verifications, no store holds any trace of it.

DESIGN.md, "ID photo is never kept". Four subjects send a headshot and a phone photo of a synthetic
passport or ID card through the status link's upload page (a verified passport, a verified ID card, a
passport whose portrait is somebody else's face, a passport with a forged check digit). Their
e-mails are delivered by a real Celery worker over Redis to an SMTP server in this process. Then every
store is searched for each ID photo (64-byte windows of its image data in raw, hex, base64 and repr
form, and its SHA-256) and for the document's MRZ lines and number (tests/support/forensics.py):

- the database: every table with SELECT *, a `pg_dump --data-only` of it, and everything the vault can
  open (sealed columns, the sealed headshot files, Django sessions decoded): an encrypted copy is a copy;
- the storage backend: every file under its root (a FileSystemStorage in this test's tmp dir);
- Redis: every key and value of the test database, kombu message bodies decoded;
- the temp dir: this test's private TMPDIR (given to this process, tesseract and the worker), this
  test's tmp dir, and what appeared in the system temp dir while the test ran;
- logs: every record this process logged at DEBUG, the worker's log (at DEBUG), the task messages as
  published, and the e-mails the SMTP server received (raw and decoded).

The positive control plants one copy in each store, by the route a bug would take, and the same search
must find every one of them: the forensic test can fail. The searcher's own guarantee (any 127
contiguous bytes of any encoding, at any offset) is specified first, without services.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import random
import re
import smtplib
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
from celery.signals import before_task_publish
from django.apps import apps
from django.conf import settings as django_settings
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, models
from django.urls import reverse

from config.celery import app as celery_app
from identity import services as identity_services
from identity.models import HeadshotProbe, VerificationRecord
from notifications.models import Message
from removal import services
from removal.models import Channel, RemovalRequest
from tests.identity import documents
from tests.support.disk_writes import Write, files_written, watching
from tests.support.forensics import (
    STRIDE,
    WINDOW,
    Haystack,
    HaystackBuilder,
    Hit,
    LogCapture,
    NeedleSet,
    as_bytes,
    database_haystacks,
    email_haystacks,
    encodings,
    file_haystacks,
    files_under,
    hits_report,
    jpeg_scan_data,
    pg_dump_haystack,
    redis_haystacks,
    short,
    survey_report,
    text_haystack,
)
from tests.support.workers import (
    CeleryWorker,
    CeleryWorkers,
    Inbox,
    SmtpServers,
    free_port,
    published_to_the_broker,
    worker_arguments,
)
from vault.services import sealer_for

# The searches run against the real stores; the searcher's own specification needs none of them.
REAL_STORES = (
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
)


def real_stores(test: Any) -> Any:
    for mark in REAL_STORES:
        test = mark(test)
    return test


TYPED_NAME = "Barack Hussein Obama"
DELIVERY_TIMEOUT = 30.0
NEWLINE = b"\n"
STORES = (
    "database",
    "database dump",
    "database (opened)",
    "storage",
    "storage (opened)",
    "redis",
    "temp dir",
    "logs",
    "broker (as published)",
    "e-mail",
)
_CONFIRM_LINK = re.compile(r"/confirm/\?t=([\w:.-]+)")


# --- The stores ------------------------------------------------------------------------------------


@dataclass
class Stores:
    """Where this test's run could have left something, and how to read all of it back."""

    tmp_path: Path
    storage_root: Path
    private_tmp: Path
    system_tmp: Path
    system_tmp_at_start: frozenset[str]
    started_at: float
    key_prefix: str
    inbox: Inbox
    workers: CeleryWorkers
    logs: LogCapture
    published: list[dict[str, Any]] = field(default_factory=list)

    def haystacks(self) -> tuple[list[Haystack], list[str]]:
        """Everything there is to search, and what was passed over (with the reason)."""
        skipped: list[str] = []
        haystacks = database_haystacks(connection)
        haystacks.append(pg_dump_haystack(connection.settings_dict))
        haystacks += _opened_haystacks(skipped)

        storage = files_under(self.storage_root)
        haystacks += file_haystacks(storage, "storage")

        client = redis.Redis.from_url(django_settings.REDIS_URL)
        try:
            haystacks += redis_haystacks(client, own_prefix=self.key_prefix)
        finally:
            client.close()

        worker_logs = [worker.log_path for worker in self.workers.started]
        temp_dirs = [
            # Ours entirely: the private TMPDIR, the worker's VAR_DIR, anything else in tmp_path.
            files_under(self.tmp_path, exclude=[self.storage_root, *worker_logs]),
            # The system temp dir: files written there while the test ran, and the directories that
            # appeared meanwhile (TemporaryDirectory), in full. Directories that were there before
            # belong to other processes (earlier test runs, other programs) and are not descended:
            # tempfile never creates a file deep inside an existing tree.
            files_under(
                self.system_tmp,
                since=self.started_at,
                exclude=[self.tmp_path],
                descend=lambda d: d.parent != self.system_tmp or d.name not in self.system_tmp_at_start,
            ),
        ]
        if django_settings.FILE_UPLOAD_TEMP_DIR:  # where Django would spool uploads, if set
            temp_dirs.append(files_under(Path(django_settings.FILE_UPLOAD_TEMP_DIR), since=self.started_at))
        for survey in temp_dirs:
            haystacks += file_haystacks(survey, "temp dir")

        haystacks.append(self.logs.haystack())
        for path in worker_logs:
            haystacks.append(_line_haystack("logs", f"worker log {path.name}", path.read_bytes()))
        haystacks.append(
            text_haystack(
                "broker (as published)",
                "task messages this process published",
                [
                    (f"message {number} ({message['task']})", as_bytes(json.dumps(message, default=repr)))
                    for number, message in enumerate(self.published)
                ],
            )
        )
        haystacks += email_haystacks([envelope.content for envelope in list(self.inbox.envelopes)])
        for survey in (storage, *temp_dirs):
            skipped += survey.skipped
        return haystacks, skipped


def _line_haystack(store: str, where: str, data: bytes) -> Haystack:
    def locate(offset: int) -> str:
        return f"line {data.count(NEWLINE, 0, offset) + 1}"

    return Haystack(store=store, where=where, data=data, locate=locate)


def _opened_haystacks(skipped: list[str]) -> list[Haystack]:
    """What the vault can open (an encrypted copy of the ID photo is still a kept copy), and sessions."""
    haystacks = []
    for model in apps.get_models():
        names = {f.name for f in model._meta.concrete_fields}
        sealed = [f for f in model._meta.concrete_fields if isinstance(f, models.BinaryField)]
        if "data_key" not in names or not sealed:
            continue
        table = model._meta.db_table
        builder = HaystackBuilder()
        for row in model._default_manager.select_related("data_key"):
            for column in sealed:
                value = getattr(row, column.attname)
                if value is None:
                    continue
                place = f"{table} pk={row.pk}, column {column.column}"
                try:
                    opened = sealer_for(row.data_key).open_bytes(  # type: ignore[attr-defined]
                        value, table=table, column=column.column, row_id=row.pk
                    )
                except Exception as exc:  # shredded key, or not a sealed value at all
                    skipped.append(f"{place}: cannot open ({type(exc).__name__})")
                    continue
                builder.add(f"pk={row.pk}, column {column.column} (opened)", opened)
        haystacks.append(builder.build("database (opened)", f"table {table}, sealed columns"))

    builder = HaystackBuilder()
    for probe in HeadshotProbe.objects.select_related("data_key"):
        with default_storage.open(probe.storage_name, "rb") as handle:
            sealed_image = handle.read()
        try:
            opened = sealer_for(probe.data_key).open_bytes(
                sealed_image, table=HeadshotProbe._meta.db_table, column="image", row_id=probe.id
            )
        except Exception as exc:
            skipped.append(f"storage {probe.storage_name}: cannot open ({type(exc).__name__})")
            continue
        builder.add(f"probe {probe.id}, file {probe.storage_name} (opened)", opened)
    haystacks.append(builder.build("storage (opened)", "sealed headshot files"))

    builder = HaystackBuilder()
    for session in Session.objects.all():
        builder.add(f"session {short(session.session_key, 12)} (decoded)", as_bytes(session.get_decoded()))
    haystacks.append(builder.build("database (opened)", "table django_session, decoded"))
    return haystacks


@pytest.fixture
def stores(
    settings: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    smtp_servers: SmtpServers,
    celery_workers: CeleryWorkers,
    broker_key_prefix: str,
) -> Iterator[Stores]:
    """Real stores for one test: FileSystemStorage, a private TMPDIR, Redis, a worker, SMTP, log capture."""
    cache.clear()  # the upload rate limits count in the cache
    system_tmp = Path(tempfile.gettempdir())
    at_start = frozenset(entry.name for entry in os.scandir(system_tmp))
    # One second of slack: some file systems keep modification times in whole seconds.
    started_at = time.time() - 1.0

    # A TMPDIR of the test's own, for this process, its children (tesseract) and the worker: all of
    # it can be searched without reading anybody else's files.
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(private_tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))

    storage_root = tmp_path / "storage"
    storage_root.mkdir()
    # The settings fixture sends setting_changed: Django drops its storages and default_storage's
    # wrapped backend, so the next use of default_storage (identity.services) builds this one.
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(storage_root)},
        },
    }
    settings.IDENTITY_DOCUMENT_REQUIRED_IN = ["*"]
    assert Path(default_storage.path("x")).parent == storage_root

    inbox = smtp_servers.start(free_port())
    celery_workers.start(
        [str(Path(sys.executable).parent / "celery"), *worker_arguments(hostname="forensics")],
        name="the worker",
        smtp_port=inbox.port,
        env={"LOG_LEVEL": "DEBUG", "TMPDIR": str(private_tmp)},
    )
    found = Stores(
        tmp_path=tmp_path,
        storage_root=storage_root,
        private_tmp=private_tmp,
        system_tmp=system_tmp,
        system_tmp_at_start=at_start,
        started_at=started_at,
        key_prefix=broker_key_prefix,
        inbox=inbox,
        workers=celery_workers,
        logs=LogCapture(),
    )

    def record(sender: str | None = None, body: Any = None, headers: Any = None, **kwargs: Any) -> None:
        found.published.append({"task": sender, "body": body, "headers": dict(headers or {})})

    with ExitStack() as stack:
        before_task_publish.connect(record, weak=False)
        stack.callback(before_task_publish.disconnect, record)
        stack.callback(found.logs.install())
        stack.enter_context(published_to_the_broker())
        yield found


# --- The subjects ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Subject:
    letter: str
    kind: documents.DocumentKind
    holder: documents.Holder
    headshot: str
    seed: int
    tampered: bool = False

    @property
    def email(self) -> str:
        return f"forensics.{self.letter.lower()}@example.org"

    @property
    def source(self) -> str:
        return f"subject {self.letter}'s {'passport' if self.kind == 'TD3' else 'ID card'}"

    def mrz(self) -> tuple[str, ...]:
        lines: tuple[str, ...] = (
            documents.td3_lines(self.holder) if self.kind == "TD3" else documents.td1_lines(self.holder)
        )
        if self.tampered:
            # The birth date's check digit on a passport's second line, as a forger editing the date
            # without recomputing it would leave it.
            lines = documents.tamper_check_digit(lines, line=1, position=19)
        return lines


OBAMA = documents.Holder(surname="OBAMA", given_names="BARACK<HUSSEIN", sex="M")
SUBJECTS = (
    # A passport and a headshot of the same man: verified.
    Subject("A", "TD3", documents.with_holder(OBAMA, document_number="L8XK20Q47"), "obama.jpg", seed=41),
    # An ID card with a short document number (filled with '<' in the MRZ): verified.
    Subject("B", "TD1", documents.with_holder(OBAMA, document_number="K7Q2Z9M4"), "obama2.jpg", seed=42),
    # Somebody else's face in the headshot: failed, retake asked for.
    Subject("C", "TD3", documents.with_holder(OBAMA, document_number="T3MV91D05"), "biden.jpg", seed=43),
    # A forged check digit.
    Subject(
        "D",
        "TD3",
        documents.with_holder(OBAMA, document_number="C7PW46H82"),
        "obama.jpg",
        seed=44,
        tampered=True,
    ),
)


def add_document_needles(needles: NeedleSet, *, source: str, image: bytes, subject: Subject) -> None:
    needles.add_id_photo(f"{source} photo", image)
    for line_number, line in enumerate(subject.mrz(), start=1):
        needles.add_text(source, f"MRZ line {line_number}", line)
    number = subject.holder.document_number
    mrz_field = (number + "<" * 9)[:9]
    needles.add_text(source, "document number", number)
    needles.add_text(source, "document number (lower case)", number.lower())
    needles.add_text(
        source, "document number (MRZ field and check digit)", mrz_field + documents.check_digit(mrz_field)
    )


def make_id_photo(make_document: Any, subject: Subject) -> bytes:
    return make_document(
        subject.kind,
        holder=subject.holder,
        portrait="obama3.jpg",
        seed=subject.seed,
        mrz=subject.mrz() if subject.tampered else None,
    )


# --- Helpers ---------------------------------------------------------------------------------------


def _worker(stores: Stores) -> CeleryWorker:
    return stores.workers.started[0]


def _submit_request(email: str) -> services.IntakeResult:
    # transaction=True: autocommit, so the outbox's on_commit hooks publish as the service returns.
    return services.removal_request_create(
        name=TYPED_NAME,
        email=email,
        right="erasure",
        jurisdictions=["EU"],
        channel=Channel.WEB,
        actor=services.SUBJECT,
    )


def _wait_until_every_message_is_sent(stores: Stores) -> None:
    _worker(stores).wait_for(
        lambda: Message.objects.exists() and not Message.objects.exclude(status=Message.Status.SENT).exists(),
        timeout=DELIVERY_TIMEOUT,
        what="every e-mail to be sent",
    )
    _worker(stores).wait_for(
        lambda: len(stores.inbox.envelopes) >= Message.objects.count(),
        timeout=DELIVERY_TIMEOUT,
        what="every e-mail to reach the SMTP server",
    )


def _confirm_email(client: Any, inbox: Inbox, address: str) -> None:
    """Follow the confirmation link the worker delivered, as the subject would."""
    bodies = [
        message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
        for message in inbox.messages()
        if message["To"] == address
    ]
    tokens = [match.group(1) for body in bodies for match in _CONFIRM_LINK.finditer(body)]
    assert tokens, f"no confirmation link was delivered to {address}"
    response = client.post(reverse("removal:confirm_email"), {"t": tokens[0]})
    assert response.status_code == 200


def _upload(client: Any, token: str, *, headshot: bytes, document: bytes) -> Any:
    return client.post(
        f"{reverse('removal:verify_identity')}?t={token}",
        {
            "headshot": SimpleUploadedFile("headshot.jpg", headshot, content_type="image/jpeg"),
            "document": SimpleUploadedFile("document.jpg", document, content_type="image/jpeg"),
        },
    )


def _search(stores: Stores, needles: NeedleSet) -> tuple[list[Hit], str, list[Haystack]]:
    started = time.perf_counter()
    haystacks, skipped = stores.haystacks()
    collected = time.perf_counter()
    hits = needles.search_all(haystacks)
    searched = time.perf_counter()
    summary = (
        f"{len(needles.needles):,d} needles; collected in {collected - started:.1f}s, "
        f"searched in {searched - collected:.1f}s\n{survey_report(haystacks, skipped, stores=STORES)}"
    )
    print(summary)  # shown with -rP: what was searched, per store
    return hits, summary, haystacks


# --- Specifications --------------------------------------------------------------------------------


def test_the_searcher_finds_any_127_bytes_of_any_encoding_at_any_offset() -> None:
    photo = random.Random(7).randbytes(3000)
    needles = NeedleSet()
    needles.add_windows("the photo", photo)

    def found(data: bytes) -> bool:
        return bool(needles.search(Haystack(store="test", where="bytes", data=b"<" + data + b">")))

    for start in range(0, 2 * STRIDE + 3):
        for name, encoded in encodings(photo):
            assert found(encoded[start : start + WINDOW + STRIDE - 1]), (name, start)
        # Encoded on its own, as a store would encode the part it kept.
        kept = photo[start : start + 200]
        assert found(kept.hex().encode()) and found(base64.b64encode(kept)) and found(repr(kept).encode())
    # One byte fewer than the stride guarantees can fall between windows; noise finds nothing.
    assert not found(photo[1 : WINDOW + STRIDE - 1])
    assert not found(random.Random(8).randbytes(1 << 20))


@real_stores
def test_no_store_keeps_any_trace_of_the_id_photos(
    stores: Stores,
    client: Any,
    photos: dict[str, bytes],
    make_document: Any,
    face_models: Any,
) -> None:
    needles = NeedleSet()
    uploaded: dict[str, bytes] = {}
    for subject in SUBJECTS:
        uploaded[subject.letter] = make_id_photo(make_document, subject)
        add_document_needles(needles, source=subject.source, image=uploaded[subject.letter], subject=subject)

    requests = {subject.letter: _submit_request(subject.email) for subject in SUBJECTS}
    _wait_until_every_message_is_sent(stores)
    written: list[Write] = []
    for subject in SUBJECTS:
        _confirm_email(client, stores.inbox, subject.email)
        with watching() as recorded:
            response = _upload(
                client,
                requests[subject.letter].status_token,
                headshot=photos[subject.headshot],
                document=uploaded[subject.letter],
            )
        assert response.status_code == 302, response.content.decode()[:2000]
        written += files_written(recorded)
    _wait_until_every_message_is_sent(stores)  # the retake requests, too

    records = {
        letter: VerificationRecord.objects.get(subject_ref=services.subject_ref(result.request))
        for letter, result in requests.items()
    }
    # Every path ran: two verified documents, a face that does not match, a forged check digit.
    assert (records["A"].outcome, records["A"].document_type) == ("verified", "TD3"), records["A"].reasons
    assert (records["B"].outcome, records["B"].document_type) == ("verified", "TD1"), records["B"].reasons
    assert records["C"].outcome == "failed"
    assert "face_mismatch" in {reason["code"] for reason in records["C"].reasons}, records["C"].reasons
    assert records["D"].check_digits_valid is False and records["D"].outcome != "verified"
    assert HeadshotProbe.objects.count() == len(SUBJECTS)
    # While the photos were in this process, the only files written were the sealed headshots: not
    # even a temporary file deleted before the end (what is left is searched below).
    probes = {
        default_storage.path(name) for name in HeadshotProbe.objects.values_list("storage_name", flat=True)
    }
    assert {write.target for write in written} == probes and len(written) == len(probes), written
    assert RemovalRequest.objects.get(id=requests["C"].request.id).pending_ask == "clearer_photo"

    hits, summary, searched = _search(stores, needles)
    assert not hits, f"the ID photos or their text were found:\n{hits_report(hits)}\n\nsearched:\n{summary}"
    # And each store the batch wrote to was read (a misconfigured collector would find nothing).
    assert sum(1 for h in searched if h.store == "storage") >= len(SUBJECTS), summary
    assert sum(1 for h in searched if h.store == "e-mail") >= Message.objects.count(), summary
    assert all(
        sum(len(h.data) for h in searched if h.store == store) > 0
        for store in ("database", "database dump", "database (opened)", "storage (opened)", "logs")
    ), summary


@real_stores
def test_the_search_finds_a_copy_planted_in_each_store(stores: Stores, make_document: Any) -> None:
    subject = Subject(
        "P", "TD1", documents.with_holder(OBAMA, document_number="P1ANT3D77"), "obama.jpg", seed=45
    )
    image = make_id_photo(make_document, subject)
    needles = NeedleSet()
    add_document_needles(needles, source=subject.source, image=image, subject=subject)
    photo, text = f"{subject.source} photo", subject.source
    scan = jpeg_scan_data(image)
    line1, line2, line3 = subject.mrz()

    result = _submit_request(subject.email)
    _wait_until_every_message_is_sent(stores)
    sent_message = Message.objects.values_list("id", flat=True)[0]
    # Each plant takes the route a bug would, and names where it must be found: (store, part of the
    # item's name, needle source, needle form).
    expected: list[tuple[str, str, str, str]] = []

    # The database: photo bytes in a bytea (raw to SELECT, hex in the dump), MRZ text in a text column.
    # The message was sent: the worker no longer touches it.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE notifications_message SET body_html_enc = %s, last_error = %s WHERE id = %s",
            [scan[2000:2300], line2, sent_message],
        )
    expected += [
        ("database", "table notifications_message", photo, "raw window"),
        ("database", "table notifications_message", text, "MRZ line 2"),
        ("database dump", "pg_dump", photo, "hex window"),
        ("database dump", "pg_dump", text, "MRZ line 2"),
    ]

    # Storage: the shortest copy the stride is sure to catch (127 bytes), at an unaligned offset.
    default_storage.save("planted/slice", ContentFile(scan[1017 : 1017 + WINDOW + STRIDE - 1]))
    expected.append(("storage", "planted/slice", photo, "raw window"))

    # Sealed: the ID photo kept as the headshot probe, encrypted (its file shows nothing as stored).
    identity_services.headshot_probe_store(
        subject_ref=services.subject_ref(result.request),
        data_key=result.request.data_key,
        jpeg=image,
        embedding=np.zeros(128, dtype=np.float32),
    )
    expected.append(("storage (opened)", "sealed headshot files", photo, "raw window"))

    # Redis: base64 of the photo under the test's prefix; the document number as the argument of a task
    # in a queue no worker consumes (kombu keeps the body base64-encoded).
    client_redis = redis.Redis.from_url(django_settings.REDIS_URL)
    client_redis.set(f"{stores.key_prefix}planted", base64.b64encode(scan[:4096]))
    client_redis.close()
    celery_app.send_task(
        "forensics.planted", args=[subject.holder.document_number], queue="forensics-planted"
    )
    expected += [
        ("redis", f"{stores.key_prefix}planted", photo, "base64"),
        ("redis", f"{stores.key_prefix}forensics-planted", text, "document number"),
        ("broker (as published)", "", text, "document number"),
    ]

    # The temp dir: a hex dump in the private TMPDIR, the photo's SHA-256 in the system temp dir.
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as dump:
        dump.write(scan[3000:3400].hex())
    assert Path(dump.name).parent == stores.private_tmp  # where tempfile puts things during the test
    system_file = stores.system_tmp / f"forensics-planted-{os.getpid()}-{time.monotonic_ns()}.txt"
    system_file.write_text(hashlib.sha256(image).hexdigest())
    expected += [
        ("temp dir", dump.name, photo, "hex window"),
        ("temp dir", str(system_file), photo, "SHA-256 (hex)"),
    ]

    # Logs: a slice of the photo logged with %r in this process; MRZ line 3 as the argument of a task
    # the worker does not know (Celery logs the whole body of an unregistered task's message).
    logging.getLogger("identity.pipeline").debug("document bytes %r", scan[5000:5300])
    celery_app.send_task("forensics.unregistered", args=[line3])
    _worker(stores).wait_for(
        lambda: "unregistered task" in _worker(stores).log(), what="the worker to log the unknown task"
    )
    expected += [
        ("logs", "test process", photo, "bytes repr"),
        ("logs", "worker log", text, "MRZ line 3"),
    ]

    # E-mail: MRZ line 1 in a base64-encoded body (not in clear in the message as received).
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "privacy@localhost", subject.email, "Ihr Ausweis"
    mail.set_content(f"Gelesen: {line1} — danke", cte="base64")
    with smtplib.SMTP("127.0.0.1", stores.inbox.port, timeout=5) as smtp:
        smtp.send_message(mail)
    _worker(stores).wait_for(
        lambda: any(b"Ihr Ausweis" in e.content for e in stores.inbox.envelopes), what="the planted e-mail"
    )
    assert line1.encode() not in stores.inbox.envelopes[-1].content
    expected.append(("e-mail", "received by the SMTP server", text, "MRZ line 1"))

    try:
        hits, summary, _searched = _search(stores, needles)
    finally:
        system_file.unlink()
    missing = [
        f"{store} ({where or 'any item'}): {source}, {form}"
        for store, where, source, form in expected
        if not any(
            hit.haystack.store == store
            and where in hit.haystack.where
            and hit.needle.source == source
            and hit.needle.form.startswith(form)
            for hit in hits
        )
    ]
    assert not missing, (
        "planted but not found:\n" + "\n".join(missing) + f"\n\nfound:\n{hits_report(hits)}\n\n{summary}"
    )
