"""The French and German catalogues are complete and their compiled .mo files match the .po sources."""

from __future__ import annotations

import ast
import gettext
from pathlib import Path

import pytest
from django.conf import settings

LOCALE = Path(settings.BASE_DIR) / "locale"


def _po_entries(path: Path) -> dict[str, str]:
    """msgid → msgstr of a .po file (no plurals or contexts in our catalogues)."""
    entries: dict[str, str] = {}
    fields: dict[str, str] = {}
    current = ""
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        if line.startswith(("msgid ", "msgstr ")):
            current, _, literal = line.partition(" ")
            fields[current] = ast.literal_eval(literal)
        elif line.startswith('"') and current:
            fields[current] += ast.literal_eval(line)
        elif not line.strip() and fields:
            if fields.get("msgid"):
                entries[fields["msgid"]] = fields.get("msgstr", "")
            fields, current = {}, ""
    return entries


@pytest.mark.parametrize("language", ["fr", "de"])
def test_catalogue_is_fully_translated_and_compiled(language: str) -> None:
    po = _po_entries(LOCALE / language / "LC_MESSAGES" / "django.po")
    assert len(po) > 150
    untranslated = [msgid for msgid, msgstr in po.items() if not msgstr]
    assert untranslated == []
    fuzzy = "#, fuzzy" in (LOCALE / language / "LC_MESSAGES" / "django.po").read_text(encoding="utf-8")
    assert not fuzzy
    with open(LOCALE / language / "LC_MESSAGES" / "django.mo", "rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    stale = [msgid for msgid, msgstr in po.items() if compiled.gettext(msgid) != msgstr]
    assert stale == [], "run `python manage.py compilemessages` after editing the .po files"
