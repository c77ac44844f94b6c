"""The French and German catalogues are complete and their compiled .mo files match the .po sources."""

from __future__ import annotations

import ast
import gettext
from pathlib import Path

import pytest
from django.conf import settings

LOCALE = Path(settings.BASE_DIR) / "locale"


def _po_entries(path: Path) -> dict[str, tuple[str | None, list[str]]]:
    """msgid → (msgid_plural or None, [msgstr, msgstr[1], …]) of a .po file (no contexts here)."""
    entries: dict[str, tuple[str | None, list[str]]] = {}
    fields: dict[str, str] = {}
    current = ""
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        if line.startswith(("msgid ", "msgid_plural ", "msgstr ", "msgstr[")):
            current, _, literal = line.partition(" ")
            fields[current] = ast.literal_eval(literal)
        elif line.startswith('"') and current:
            fields[current] += ast.literal_eval(line)
        elif not line.strip() and fields:
            if fields.get("msgid"):
                forms = [value for key, value in sorted(fields.items()) if key.startswith("msgstr")]
                entries[fields["msgid"]] = (fields.get("msgid_plural"), forms)
            fields, current = {}, ""
    return entries


@pytest.mark.parametrize("language", ["fr", "de"])
def test_catalogue_is_fully_translated_and_compiled(language: str) -> None:
    folder = LOCALE / language / "LC_MESSAGES"
    po = _po_entries(folder / "django.po")
    assert len(po) > 150
    untranslated = [msgid for msgid, (_, forms) in po.items() if not all(forms)]
    assert untranslated == []
    assert "#, fuzzy" not in (folder / "django.po").read_text(encoding="utf-8")
    with open(folder / "django.mo", "rb") as handle:
        compiled = gettext.GNUTranslations(handle)

    def compiled_forms(msgid: str, plural: str | None) -> list[str]:
        if plural is None:
            return [compiled.gettext(msgid)]
        return [compiled.ngettext(msgid, plural, n) for n in (1, 2)]

    stale = [msgid for msgid, (plural, forms) in po.items() if compiled_forms(msgid, plural) != forms[:2]]
    assert stale == [], "run `python manage.py compilemessages` after editing the .po files"
