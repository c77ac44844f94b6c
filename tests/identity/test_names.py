"""Typed names against MRZ names: tolerant of how ICAO writes names and of OCR noise, not of other people."""

from __future__ import annotations

import pytest

from identity.names import mrz_spellings, name_match_score

MATCH = 0.85
MISMATCH = 0.60


@pytest.mark.parametrize(
    ("typed", "surname", "given"),
    [
        ("Zoë Quintero-Haddad", "QUINTERO HADDAD", "ZOE"),  # accent dropped, hyphen is a filler
        ("zoe quintero haddad", "QUINTERO HADDAD", "ZOE"),  # case
        ("Jürgen Müller", "MUELLER", "JUERGEN"),  # ICAO: Ü -> UE
        ("Jürgen Müller", "MULLER", "JURGEN"),  # ... or just U
        ("Søren Kierkegaard", "KIERKEGAARD", "SOEREN"),  # Ø -> OE
        ("Åsa Ångström", "AANGSTROEM", "AASA"),  # Å -> AA, Ö -> OE
        ("Anders Ærø", "AEROE", "ANDERS"),  # Æ -> AE
        ("Heinz Großmann", "GROSSMANN", "HEINZ"),  # ß -> SS
        ("José Peña", "PENA", "JOSE"),  # Ñ -> N
        ("Seán O'Brien", "OBRIEN", "SEAN"),  # apostrophes are omitted
        ("OBAMA Barack", "OBAMA", "BARACK"),  # surname first
        ("Obama, Barack", "OBAMA", "BARACK"),
        ("Ronald McDonald", "MC DONALD", "RONALD"),  # particles joined or not
    ],
)
def test_the_same_name_written_the_icao_way_matches(typed: str, surname: str, given: str) -> None:
    assert name_match_score(typed, surname=surname, given_names=given) == 1.0


def test_a_name_cut_off_at_the_end_of_the_field_matches() -> None:
    score = name_match_score(
        "Hubert Blaine Wolfeschlegelsteinhausenbergerdorff",
        surname="WOLFESCHLEGELSTEINHAUSENBERGERDORFF",
        given_names="HU",
        truncated=True,
    )
    assert score == 1.0


@pytest.mark.parametrize("given", ["BARACKKHUSSEIN", "BARACK HUSSEINS", "BARACKXHUSSEIN", "BARACK HUSSELN"])
def test_ocr_noise_in_the_unprotected_name_field_still_matches(given: str) -> None:
    assert name_match_score("Barack Hussein Obama", surname="OBAMA", given_names=given) >= MATCH


def test_a_middle_name_left_out_still_matches() -> None:
    assert name_match_score("Barack Obama", surname="OBAMA", given_names="BARACK HUSSEIN") >= MATCH


def test_a_typo_still_matches() -> None:
    assert name_match_score("Barak Obama", surname="OBAMA", given_names="BARACK") >= MATCH


def test_a_relative_with_the_same_surname_is_not_a_match() -> None:
    score = name_match_score("Michelle Obama", surname="OBAMA", given_names="BARACK HUSSEIN")
    assert MISMATCH <= score < MATCH


@pytest.mark.parametrize("typed", ["Joe Biden", "Jane Doe", "Eileen Collins"])
def test_someone_else_is_a_mismatch(typed: str) -> None:
    assert name_match_score(typed, surname="OBAMA", given_names="BARACK HUSSEIN") < MISMATCH


def test_an_empty_document_name_never_matches() -> None:
    assert name_match_score("Barack Obama", surname="", given_names="") == 0.0


def test_transliteration_offers_the_icao_and_the_plain_spelling() -> None:
    assert mrz_spellings("Jürgen Müller") == [["JUERGEN", "MUELLER"], ["JURGEN", "MULLER"]]
    assert mrz_spellings("Straße") == [["STRASSE"]]
