"""A searcher for the forensic test: is any copy of an ID photo, or of the text on it, left in a store?

Needles (`NeedleSet`): for each ID photo, 64-byte windows of its compressed image data taken every 64
bytes, in each encoding a careless store would use (raw bytes; hex, as PostgreSQL prints a bytea;
base64, as JSON, Celery and e-mail carry bytes; Python's bytes repr, as a log line shows them), and the
photo's SHA-256 (hex, raw, base64); for each document its MRZ lines and its document number. Haystacks
(`Haystack`) are the bytes of one store's item, with a way to say where in it a hit is (which row and
column, which log record). The search is a single pass per haystack, in numpy, on the needles' first
8 bytes; a candidate is then compared in full, so the cost is one pass over the bytes however many
needles there are.

Hits name the needle by whose photo it is and which form of it (never its bytes beyond a short hex
prefix), and the store, item and place it was found.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import json
import logging
import os
import shutil
import subprocess
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from email import message_from_bytes
from email import policy as email_policy
from pathlib import Path
from typing import Any

import numpy as np

WINDOW = 64
# Why every 64th window is enough (and all n windows, O(n) needles per photo, are not needed): take an
# encoded photo T and windows T[k*S : k*S + W] for every k (S = STRIDE = 64, W = WINDOW = 64). A stored
# copy of T[a : a + L] holds the window starting at the first multiple of S at or after a, which is at
# most a + S - 1 and so ends at most at a + S - 1 + W: inside the copy whenever L >= W + S - 1 = 127.
# Any stored stretch of 127 or more contiguous bytes of an encoding therefore contains a whole needle,
# whatever its offset; a smaller stride would only lower that bound at the price of more needles.
STRIDE = 64
# Candidates are found on this many leading bytes of a needle, which is also the shortest needle.
_PREFIX = 8
# Haystacks are scanned in pieces of this size, so a large file never needs more than ~10x it in memory.
_CHUNK = 4 << 20
# The candidate filter's bitmap: 16 M entries (16 MB), so few offsets pass it by chance.
_BITMAP_BITS = 24
_SEPARATOR = b"\x00"
# Files larger than this are listed as skipped instead of read (nothing the app writes comes near it).
MAX_FILE_BYTES = 256 << 20


# --- Needles ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Needle:
    source: str  # whose: "subject B's ID card photo"
    form: str  # which form of it: "hex window at char 8192", "MRZ line 2"
    data: bytes = field(repr=False)

    def __str__(self) -> str:
        # Never the needle itself: its length and a short hex prefix are enough to recognise it.
        return f"{self.source}, {self.form} ({len(self.data)} bytes, {self.data[:4].hex()}…)"


def jpeg_scan_data(image: bytes) -> bytes:
    """The photo's entropy-coded data, after the headers (SOI … SOS).

    The headers (quantisation and Huffman tables, sizes) are the same for every photo an encoder writes
    at one quality, so windows of them would "find" any other JPEG; what follows the SOS header is this
    photo's own data. Anything that is not a JPEG is used whole.
    """
    if not image.startswith(b"\xff\xd8"):
        return image
    position = 2
    while position + 4 <= len(image):
        if image[position] != 0xFF:
            return image  # not a marker where one must be: use everything rather than guess
        marker = image[position + 1]
        if marker == 0xFF:  # fill byte before a marker
            position += 1
            continue
        length = int.from_bytes(image[position + 2 : position + 4], "big")
        if marker == 0xDA:
            return image[position + 2 + length :]
        position += 2 + length
    return image


def encodings(data: bytes) -> Iterator[tuple[str, bytes]]:
    """`data` as the stores would hold it: raw, hex, base64 (from each byte phase), Python repr."""
    yield "raw", data
    yield "hex", data.hex().encode()
    # Base64 of a copy that starts at byte a lines up with base64 of data[a % 3:], so the three phases
    # cover a base64 copy of any stretch of the data.
    for phase in range(3):
        yield f"base64 (phase {phase})", base64.b64encode(data[phase:])
    # repr escapes byte by byte, so a logged slice's repr is a stretch of the whole's repr.
    yield "bytes repr", repr(data)[2:-1].encode("ascii")


class NeedleSet:
    """Needles indexed by their first 8 bytes, searched for in one pass per haystack."""

    def __init__(self) -> None:
        self.needles: list[Needle] = []
        self._by_prefix: dict[int, list[Needle]] = defaultdict(list)
        self._index: tuple[np.ndarray, np.ndarray] | None = None

    def add(self, source: str, form: str, data: bytes) -> None:
        if len(data) < _PREFIX:
            raise ValueError(f"{source}, {form}: a needle needs at least {_PREFIX} bytes")
        needle = Needle(source=source, form=form, data=bytes(data))
        self.needles.append(needle)
        self._by_prefix[_word(needle.data, 0)].append(needle)
        self._index = None

    def add_text(self, source: str, form: str, text: str) -> None:
        self.add(source, form, text.encode("utf-8"))

    def add_windows(self, source: str, blob: bytes) -> None:
        """Every STRIDE-th WINDOW-byte window of each encoding of `blob` (see STRIDE for why)."""
        for name, encoded in encodings(blob):
            for offset in range(0, len(encoded) - WINDOW + 1, STRIDE):
                self.add(source, f"{name} window at {offset}", encoded[offset : offset + WINDOW])

    def add_id_photo(self, source: str, image: bytes) -> None:
        self.add_windows(source, jpeg_scan_data(image))
        digest = hashlib.sha256(image).digest()
        self.add(source, "SHA-256 (hex)", digest.hex().encode())
        self.add(source, "SHA-256 (HEX)", digest.hex().upper().encode())
        self.add(source, "SHA-256 (raw)", digest)
        self.add(source, "SHA-256 (base64)", base64.b64encode(digest))

    def _prefix_index(self) -> tuple[np.ndarray, np.ndarray]:
        """The needles' first 8 bytes, sorted, and a bitmap on their hash (see `_candidates`)."""
        if self._index is None:
            prefixes = np.array(sorted(self._by_prefix), dtype=np.uint64)
            bitmap = np.zeros(1 << _BITMAP_BITS, dtype=bool)
            bitmap[_bucket(prefixes)] = True
            self._index = (prefixes, bitmap)
        return self._index

    def search(self, haystack: Haystack) -> list[Hit]:
        data = haystack.data
        hits: list[Hit] = []
        for position in _candidates(data, *self._prefix_index()):
            for needle in self._by_prefix[_word(data, position)]:
                if data.startswith(needle.data, position):
                    hits.append(Hit(needle=needle, haystack=haystack, offset=position))
        return hits

    def search_all(self, haystacks: Iterable[Haystack]) -> list[Hit]:
        return [hit for haystack in haystacks for hit in self.search(haystack)]


def _word(data: bytes, position: int) -> int:
    return int.from_bytes(data[position : position + _PREFIX], "little")


def _candidates(data: bytes, prefixes: np.ndarray, bitmap: np.ndarray) -> Iterator[int]:
    """Offsets in `data` where the next 8 bytes are some needle's first 8 bytes, in order.

    A cheap first filter, the bitmap on a hash of the 8 bytes (one gather per offset), passes a few
    offsets in a thousand; only those are looked up exactly in the sorted prefixes.
    """
    if not len(prefixes):
        return
    view = memoryview(data)
    for start in range(0, max(len(data) - _PREFIX + 1, 0), _CHUNK):
        piece = view[start : start + _CHUNK + _PREFIX - 1]
        found = []
        # The little-endian 64-bit word at every offset: eight aligned readings, one per phase.
        for phase in range(_PREFIX):
            count = (len(piece) - phase) // _PREFIX
            if count <= 0:
                continue
            words = np.frombuffer(piece, dtype="<u8", count=count, offset=phase)
            maybe = np.flatnonzero(bitmap[_bucket(words)])
            slots = np.minimum(np.searchsorted(prefixes, words[maybe]), len(prefixes) - 1)
            found.append(phase + _PREFIX * maybe[prefixes[slots] == words[maybe]])
        offsets = np.sort(np.concatenate(found)) if found else ()
        yield from (start + int(offset) for offset in offsets if offset < _CHUNK)


def _bucket(words: np.ndarray) -> np.ndarray:
    # Multiplicative hashing: every byte of the word moves the top bits, so text and binary spread.
    return ((words * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - _BITMAP_BITS)).astype(np.intp)


# --- Haystacks and hits ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Haystack:
    store: str  # "database", "storage", "redis", "temp dir", "logs", "e-mail", …
    where: str  # the item in the store: "table notifications_message", "key …", "file …"
    data: bytes = field(repr=False)
    locate: Callable[[int], str] | None = field(default=None, repr=False, compare=False)

    def place(self, offset: int) -> str:
        return self.locate(offset) if self.locate else f"byte {offset}"


@dataclass(frozen=True)
class Hit:
    needle: Needle
    haystack: Haystack
    offset: int

    def __str__(self) -> str:
        return (
            f"{self.needle} in {self.haystack.store}: {self.haystack.where}, "
            f"{self.haystack.place(self.offset)}"
        )


class HaystackBuilder:
    """One haystack of many labelled values (a table's cells, a log's records) that can say which."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._starts: list[int] = []
        self._labels: list[str] = []
        self._size = 0

    def add(self, label: str, data: bytes) -> None:
        self._starts.append(self._size)
        self._labels.append(label)
        # A separator, so that no needle is "found" across the end of one value and the next.
        self._parts += [data, _SEPARATOR]
        self._size += len(data) + len(_SEPARATOR)

    def build(self, store: str, where: str) -> Haystack:
        starts, labels = list(self._starts), list(self._labels)

        def locate(offset: int) -> str:
            index = bisect.bisect_right(starts, offset) - 1
            return f"{labels[index]}, byte {offset - starts[index]}" if index >= 0 else f"byte {offset}"

        return Haystack(store=store, where=where, data=b"".join(self._parts), locate=locate)


def as_bytes(value: object) -> bytes:
    """A stored value as bytes: binary as is, text as UTF-8, structures as JSON, the rest as str()."""
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=str).encode("utf-8", "surrogateescape")
    return str(value).encode("utf-8", "surrogateescape")


def short(text: object, limit: int = 48) -> str:
    shown = str(text)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


# --- Report ----------------------------------------------------------------------------------------


def hits_report(hits: Sequence[Hit], *, examples: int = 3) -> str:
    """Hits grouped by needle source and store item (a whole copy is thousands of window hits)."""
    groups: dict[tuple[str, str, str], list[Hit]] = defaultdict(list)
    for hit in hits:
        groups[(hit.needle.source, hit.haystack.store, hit.haystack.where)].append(hit)
    lines = []
    for (source, store, where), found in sorted(groups.items()):
        forms = Counter(hit.needle.form.split(" window at ")[0] for hit in found)
        lines.append(f"- {source} in {store}: {where}: {len(found)} hit(s) ({dict(forms)})")
        lines += [f"    {hit}" for hit in found[:examples]]
    return "\n".join(lines)


def survey_report(
    haystacks: Sequence[Haystack], skipped: Sequence[str] = (), *, stores: Iterable[str] = ()
) -> str:
    """What was searched: items and bytes per store (`stores` listed even when empty), and what not."""
    items: Counter[str] = Counter({store: 0 for store in stores})
    sizes: Counter[str] = Counter()
    for haystack in haystacks:
        items[haystack.store] += 1
        sizes[haystack.store] += len(haystack.data)
    lines = [f"{store:>26}: {items[store]:5d} item(s), {sizes[store]:>12,d} bytes" for store in sorted(items)]
    lines.append(f"{'total':>26}: {sum(items.values()):5d} item(s), {sum(sizes.values()):>12,d} bytes")
    lines += [f"  skipped: {reason}" for reason in skipped]
    return "\n".join(lines)


# --- The database ----------------------------------------------------------------------------------


def database_haystacks(connection: Any) -> list[Haystack]:
    """Every table, every row, every column, read with SELECT * (one haystack per table)."""
    haystacks = []
    with connection.cursor() as cursor:
        for table in sorted(connection.introspection.table_names(cursor, include_views=False)):
            # The table names come from the database's own catalogue.
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            columns = [column.name for column in cursor.description]
            builder = HaystackBuilder()
            for number, row in enumerate(cursor.fetchall()):
                row_label = f"row {number} ({columns[0]}={short(row[0], 40)})"
                for column, value in zip(columns, row, strict=True):
                    builder.add(f"{row_label}, column {column}", as_bytes(value))
            haystacks.append(builder.build("database", f"table {table}"))
    return haystacks


def pg_dump_haystack(settings_dict: Mapping[str, Any]) -> Haystack:
    """The database as `pg_dump --data-only` writes it (bytea as hex, text escaped as COPY does)."""
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise FileNotFoundError("pg_dump is not installed")
    command = [pg_dump, "--data-only", "--no-owner", "--no-privileges", "--dbname", settings_dict["NAME"]]
    if settings_dict.get("HOST"):
        command += ["--host", str(settings_dict["HOST"])]
    if settings_dict.get("PORT"):
        command += ["--port", str(settings_dict["PORT"])]
    if settings_dict.get("USER"):
        command += ["--username", str(settings_dict["USER"])]
    env = {**os.environ, "PGPASSWORD": str(settings_dict.get("PASSWORD") or "")}
    dump = subprocess.run(command, capture_output=True, env=env, check=True, timeout=120).stdout

    def locate(offset: int) -> str:
        copy = dump.rfind(b"\nCOPY ", 0, offset)
        if copy < 0:
            return f"byte {offset}"
        table = dump[copy + 6 : dump.find(b" ", copy + 6)].decode(errors="replace")
        line = dump.count(b"\n", copy + 1, offset)
        return f"COPY {table}, data line {line}"

    return Haystack(store="database dump", where="pg_dump --data-only", data=dump, locate=locate)


# --- Files -----------------------------------------------------------------------------------------


@dataclass
class FileSurvey:
    """Files read from a directory tree, and those passed over (with the reason)."""

    paths: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def files_under(
    root: Path,
    *,
    since: float | None = None,
    exclude: Iterable[Path] = (),
    descend: Callable[[Path], bool] = lambda directory: True,
) -> FileSurvey:
    """Regular files under `root` (modified at or after `since`, if given), not following symlinks."""
    survey = FileSurvey()
    excluded = {path.resolve() for path in exclude}
    pending = [root]
    while pending:
        directory = pending.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError as exc:
            survey.skipped.append(f"{directory}: cannot list ({type(exc).__name__})")
            continue
        for entry in entries:
            path = Path(entry.path)
            if path.resolve() in excluded:
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    if descend(path):
                        pending.append(path)
                    continue
                if not entry.is_file(follow_symlinks=False):
                    continue  # symlinks, sockets, pipes: not copies of anything
                info = entry.stat(follow_symlinks=False)
            except OSError as exc:
                survey.skipped.append(f"{path}: cannot stat ({type(exc).__name__})")
                continue
            if since is not None and info.st_mtime < since:
                continue
            if info.st_size > MAX_FILE_BYTES:
                survey.skipped.append(f"{path}: {info.st_size:,d} bytes, over the {MAX_FILE_BYTES:,d} limit")
                continue
            survey.paths.append(path)
    return survey


def file_haystacks(survey: FileSurvey, store: str) -> list[Haystack]:
    haystacks = []
    for path in survey.paths:
        try:
            data = path.read_bytes()
        except OSError as exc:  # gone or unreadable since it was listed
            survey.skipped.append(f"{path}: cannot read ({type(exc).__name__})")
            continue
        haystacks.append(Haystack(store=store, where=f"file {path}", data=data))
    return haystacks


# --- Redis -----------------------------------------------------------------------------------------


def redis_haystacks(client: Any, *, own_prefix: str = "") -> list[Haystack]:
    """Every key of the client's database and its value, read by type (read-only: SCAN and reads).

    Values are read by type rather than only through DUMP, whose serialisation LZF-compresses long
    strings; the DUMP is searched too. Kombu's messages carry their body base64-encoded in JSON, so
    those bodies are also searched decoded.
    """
    haystacks = []
    for key in client.scan_iter(count=1000):
        kind = client.type(key).decode()
        values: list[bytes] = []
        if kind == "string":
            values = [client.get(key) or b""]
        elif kind == "list":
            values = list(client.lrange(key, 0, -1))
        elif kind == "hash":
            values = [part for item in client.hgetall(key).items() for part in item]
        elif kind == "set":
            values = list(client.smembers(key))
        elif kind == "zset":
            values = [member for member, _score in client.zrange(key, 0, -1, withscores=True)]
        elif kind == "stream":
            values = [part for _id, fields in client.xrange(key) for item in fields.items() for part in item]
        builder = HaystackBuilder()
        builder.add("key name", key)
        for number, value in enumerate(values):
            builder.add(f"{kind} value {number}", value)
            for body_number, body in enumerate(kombu_bodies(value)):
                builder.add(f"{kind} value {number}, decoded message body {body_number}", body)
        builder.add("DUMP", client.dump(key) or b"")
        mine = " (this test's broker prefix)" if own_prefix and key.startswith(own_prefix.encode()) else ""
        haystacks.append(builder.build("redis", f"key {short(key.decode(errors='replace'), 80)!r}{mine}"))
    return haystacks


def kombu_bodies(value: bytes) -> list[bytes]:
    """The decoded bodies of any kombu messages (JSON with a base64 `body`) inside a Redis value."""
    try:
        parsed = json.loads(value)
    except (ValueError, UnicodeDecodeError):
        return []
    bodies: list[bytes] = []
    pending = [parsed]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            if item.get("body_encoding") == "base64" and isinstance(item.get("body"), str):
                with suppress(ValueError):
                    bodies.append(base64.b64decode(item["body"]))
            pending += list(item.values())
        elif isinstance(item, list):
            pending += item
    return bodies


# --- E-mail and logs -------------------------------------------------------------------------------


def email_haystacks(contents: Sequence[bytes]) -> list[Haystack]:
    """Each message as received (raw), and its headers and parts decoded (base64, quoted-printable)."""
    haystacks = []
    for number, content in enumerate(contents):
        builder = HaystackBuilder()
        builder.add("as received", content)
        message = message_from_bytes(content, policy=email_policy.default)
        for name, value in message.items():
            builder.add(f"header {name} (decoded)", str(value).encode("utf-8", "surrogateescape"))
        for part_number, part in enumerate(message.walk()):
            if part.is_multipart():
                continue
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                builder.add(f"part {part_number} ({part.get_content_type()}, decoded)", payload)
        haystacks.append(builder.build("e-mail", f"message {number} received by the SMTP server"))
    return haystacks


class LogCapture(logging.Handler):
    """Every record this process logs, formatted (with tracebacks), plus the raw bytes of bytes arguments.

    Install on the root logger with the root at DEBUG (`installed()`): records below a logger's
    effective level are never created, so a handler's own level is not enough.
    """

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        self.entries: list[tuple[str, bytes]] = []

    def emit(self, record: logging.LogRecord) -> None:
        label = f"record {len(self.entries)} ({record.name} {record.levelname})"
        try:
            text = self.format(record)
        except Exception:  # a record that cannot be formatted is still searched by its parts
            text = f"{record.msg!r} {record.args!r}"
        self.entries.append((label, text.encode("utf-8", "surrogateescape")))
        arguments = record.args.values() if isinstance(record.args, Mapping) else (record.args or ())
        for value in (record.msg, *arguments):
            if isinstance(value, bytes | bytearray | memoryview):
                self.entries.append((f"{label}, bytes argument", bytes(value)))

    def haystack(self) -> Haystack:
        builder = HaystackBuilder()
        for label, data in list(self.entries):
            builder.add(label, data)
        return builder.build("logs", "records logged by the test process")

    def install(self) -> Callable[[], None]:
        """Capture from the root logger at DEBUG; returns the function that puts things back."""
        root = logging.getLogger()
        level = root.level
        root.addHandler(self)
        root.setLevel(logging.DEBUG)

        def uninstall() -> None:
            root.removeHandler(self)
            root.setLevel(level)

        return uninstall


def text_haystack(store: str, where: str, lines: Iterable[tuple[str, bytes]]) -> Haystack:
    builder = HaystackBuilder()
    for label, data in lines:
        builder.add(label, data)
    return builder.build(store, where)
