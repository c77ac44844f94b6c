"""``manage.py ingest_photos PATH [PATH ...]``: build the face index from image files.

Folders are walked recursively; every regular file is tried (the decoder decides by magic bytes what
is an image, so a stray README is counted as rejected rather than crashing the run). With
``--source-url-file``, a file of ``<path>\\t<url>`` lines records where each file was downloaded from.
Photos showing a face that a subject asked us to refuse (suppression, docs/purge.md) are not stored
and are counted as suppressed. Progress goes to stderr, the summary to stdout. File names and URLs are
never printed: these are photos of people.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper

from removal.face_index import IngestSummary, photo_ingest
from removal.models.face_index import SOURCE_URL_MAX_LENGTH
from removal.services.suppression import SuppressionList


class Command(BaseCommand):
    help = "Detect, embed and store the faces of image files (folders are walked recursively)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", metavar="PATH", help="Image files or folders.")
        parser.add_argument(
            "--source-url-file",
            metavar="FILE",
            help="Lines of '<path>\\t<source url>' (tab-separated) for the files downloaded from the web.",
        )
        parser.add_argument("--no-progress", action="store_true", help="Don't draw the progress bar.")

    def handle(self, *args: Any, **options: Any) -> None:
        files = sorted(set(_files(options["paths"])))
        urls = _read_source_urls(options["source_url_file"]) if options["source_url_file"] else {}
        summary = IngestSummary()
        # One list for the run: templates are decrypted once, and again only when entries change.
        suppression = SuppressionList()
        progress = _Progress(len(files), stream=self.stderr, enabled=not options["no_progress"])
        for path in files:
            try:
                data = path.read_bytes()
            except OSError:
                summary.rejected += 1
                summary.rejected_reasons["unreadable"] = summary.rejected_reasons.get("unreadable", 0) + 1
            else:
                summary.add(
                    photo_ingest(data=data, source_url=urls.get(path.resolve(), ""), suppression=suppression)
                )
            progress.step(summary)
        progress.close()
        self.stdout.write(
            f"photos: {summary.photos}, faces: {summary.faces}, duplicates: {summary.duplicates}, "
            f"rejected: {summary.rejected}, suppressed: {summary.suppressed}"
        )
        for reason, count in sorted(summary.rejected_reasons.items()):
            self.stdout.write(f"  rejected ({reason}): {count}")


def _files(paths: list[str]) -> Iterator[Path]:
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from (child for child in path.rglob("*") if child.is_file())
        elif path.is_file():
            yield path
        else:
            raise CommandError(f"Not a file or folder: {raw}")


def _read_source_urls(name: str) -> dict[Path, str]:
    try:
        lines = Path(name).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise CommandError(f"Cannot read --source-url-file: {exc.strerror}") from exc
    urls: dict[Path, str] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.startswith("#"):
            continue
        path, sep, url = line.partition("\t")
        if not sep or not url.strip():
            raise CommandError(f"--source-url-file line {number}: expected '<path>\\t<url>'")
        if len(url.strip()) > SOURCE_URL_MAX_LENGTH:
            raise CommandError(
                f"--source-url-file line {number}: the URL is longer than {SOURCE_URL_MAX_LENGTH} characters"
            )
        urls[Path(path.strip()).resolve()] = url.strip()
    return urls


class _Progress:
    """A one-line bar redrawn in place: ``[#####.....] 12/40 photos 9 faces 14 dup 1 rej 1 sup 0``."""

    WIDTH = 30

    def __init__(self, total: int, *, stream: OutputWrapper, enabled: bool) -> None:
        self.total = total
        self.done = 0
        self.stream = stream
        self.enabled = enabled and total > 0

    def step(self, summary: IngestSummary) -> None:
        self.done += 1
        if not self.enabled:
            return
        filled = self.WIDTH * self.done // self.total
        bar = "#" * filled + "." * (self.WIDTH - filled)
        self.stream.write(
            f"\r[{bar}] {self.done}/{self.total} photos {summary.photos} faces {summary.faces} "
            f"dup {summary.duplicates} rej {summary.rejected} sup {summary.suppressed}",
            ending="",
        )
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("")
            self.stream.flush()
