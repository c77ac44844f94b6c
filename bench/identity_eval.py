"""Identity verification error rates: false accepts, false rejects and retakes over every pair the
project's fixture photos allow, under the phone-photo degradations of issue #13.

Run from the project root (about 2 s per verification on one core):

    .venv/bin/python bench/identity_eval.py                       # TD3, every degradation, seed 0
    .venv/bin/python bench/identity_eval.py --kinds TD3,TD1 --seeds 0,1

Everything runs in memory in this process; Django is set up with throwaway settings (as
bench/verify.py does) because the identity modules mark messages for translation at import time.

Pairs: every fixture photo with a known face box (tests/support/identity_fixtures.py) is drawn as the
portrait of a document in its owner's name, and every *other* fixture photo is the headshot. A pair is
genuine when both photos show the same person (the three Obama photos), an impostor pair otherwise
(the impostor types the name printed on the document). Each document is photographed under each
degradation. Besides, every genuine document is also drawn with a tampered check digit (birth date),
which must come out "failed".

Outcomes: verified, inconclusive (staff decide), failed, retake (a `VerificationInputError`: the photo
must be taken again, no attempt counted). Rates printed per degradation and in total:
- FRR: genuine pairs "failed"; FAR: impostor pairs "verified"; retake rate over genuine pairs;
- tampered documents not "failed" (must be 0).
The figures are for reading; the load average is printed beside them.
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import date
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

_VAR_DIR = Path(tempfile.mkdtemp(prefix="identity-eval-"))
_MASTER_KEY = base64.b64encode(secrets.token_bytes(32)).decode()
os.environ.update(
    {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "VAULT_MASTER_KEYS": f"mk-{secrets.token_hex(4)}:{_MASTER_KEY}",
        "VAULT_BLIND_INDEX_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "DATABASE_URL": f"sqlite:///{_VAR_DIR / 'db.sqlite3'}",
        "REDIS_URL": "",
        "CACHE_URL": "locmemcache://",
        "EMAIL_URL": "dummymail://",
        "VAR_DIR": str(_VAR_DIR),
    }
)

import django  # noqa: E402

django.setup()

from PIL import Image  # noqa: E402

from identity.errors import VerificationInputError  # noqa: E402
from identity.pipeline import verify_identity  # noqa: E402
from tests.identity import documents  # noqa: E402
from tests.support.identity_fixtures import FACE_BOXES, portrait_of  # noqa: E402

TODAY = date(2026, 3, 1)
FIXTURES = _ROOT / "tests" / "fixtures" / "identity"
PEOPLE = {
    "obama.jpg": ("obama", "OBAMA", "BARACK<HUSSEIN", "Barack Obama"),
    "obama2.jpg": ("obama", "OBAMA", "BARACK<HUSSEIN", "Barack Obama"),
    "obama3.jpg": ("obama", "OBAMA", "BARACK<HUSSEIN", "Barack Obama"),
    "biden.jpg": ("biden", "BIDEN", "JOSEPH<ROBINETTE", "Joseph Robinette Biden"),
    "astronaut.jpg": ("collins", "COLLINS", "EILEEN<MARIE", "Eileen Marie Collins"),
}
# Document numbers: the finding's confusable one and the blurred one, alternately.
NUMBERS = ("N5R0T6W2B", "G1A2B3C4D", "X4RT58N21")


def degradations(seed: int) -> dict[str, tuple[documents.Degradation, str | None]]:
    base = documents.degradation_for(seed)
    return {
        "phone": (base, None),
        "rotation 10°": (replace(base, rotation=10.0 if seed % 2 == 0 else -10.0), None),
        "perspective": (replace(base, corner_jitter=0.04), None),
        "JPEG q40": (replace(base, quality=40), None),
        "blur sigma 2.2": (replace(base, blur=2.2), None),
        "1600 px": (replace(base, out_width=1600), None),
        "4000 px": (replace(base, out_width=4000), None),
        "low contrast": (base, "low_contrast"),
        "glare on zone": (base, "glare"),
    }


def run(kinds: list[str], seeds: list[int], only: set[str] | None) -> int:
    photos = {path.name: path.read_bytes() for path in FIXTURES.glob("*.jpg")}
    names = [name for name in FACE_BOXES if name in photos]
    table: dict[str, Counter[str]] = defaultdict(Counter)
    started = time.monotonic()
    for kind in kinds:
        for seed in seeds:
            for label, (degradation, extra) in degradations(seed).items():
                if only and label not in only:
                    continue
                for index, portrait_name in enumerate(names):
                    person, surname, given, typed = PEOPLE[portrait_name]
                    holder = documents.Holder(
                        surname=surname, given_names=given, document_number=NUMBERS[index % len(NUMBERS)]
                    )
                    lines = documents.td3_lines(holder) if kind == "TD3" else documents.td1_lines(holder)
                    tampered_lines = documents.tamper_check_digit(
                        lines, line=1, position=19 if kind == "TD3" else 6
                    )
                    portrait = portrait_of(photos, portrait_name)
                    for variant, mrz_lines in (("genuine", None), ("tampered", tampered_lines)):
                        flat = documents.render_document(kind, holder, portrait, mrz=mrz_lines, seed=seed)  # type: ignore[arg-type]
                        flat = _extra(flat, extra, kind=kind, seed=seed)
                        photo = documents.photograph(flat, seed=seed, degradation=degradation)
                        for headshot_name in names:
                            if headshot_name == portrait_name:
                                continue
                            same = PEOPLE[headshot_name][0] == person
                            if variant == "tampered" and not same:
                                continue
                            outcome = _outcome(photos[headshot_name], photo, typed)
                            group = (
                                "tampered" if variant == "tampered" else ("genuine" if same else "impostor")
                            )
                            table[(label, group)][outcome] += 1  # type: ignore[index]
                            table[("total", group)][outcome] += 1  # type: ignore[index]
    _print(table, elapsed=time.monotonic() - started)
    return 0


def _extra(flat: Image.Image, extra: str | None, *, kind: str, seed: int) -> Image.Image:
    if extra == "glare":
        return documents.with_glare(flat, kind=kind, seed=seed)  # type: ignore[arg-type]
    if extra == "low_contrast":
        return documents.with_low_contrast(flat)
    return flat


def _outcome(headshot: bytes, document: bytes, typed: str) -> str:
    try:
        result = verify_identity(headshot=headshot, document=document, typed_name=typed, today=TODAY)
    except VerificationInputError:
        return "retake"
    return result.decision.outcome


def _rate(counter: Counter[str], key: str) -> str:
    total = sum(counter.values())
    return f"{counter[key]}/{total}" if total else "-"


def _print(table: dict, *, elapsed: float) -> None:
    labels = list(dict.fromkeys(label for label, _group in table))
    header = f"{'degradation':<15} {'genuine: verified':>18} {'inconcl.':>9} {'retake':>7} {'FRR':>6}"
    header += f" {'impostor FAR':>13} {'imp. inconcl.':>14} {'tampered not failed':>20}"
    print(header)
    for label in labels:
        genuine = table.get((label, "genuine"), Counter())
        impostor = table.get((label, "impostor"), Counter())
        tampered = table.get((label, "tampered"), Counter())
        not_failed = Counter(x=sum(v for k, v in tampered.items() if k != "failed"), y=tampered["failed"])
        print(
            f"{label:<15} {_rate(genuine, 'verified'):>18} {_rate(genuine, 'inconclusive'):>9}"
            f" {_rate(genuine, 'retake'):>7} {_rate(genuine, 'failed'):>6} {_rate(impostor, 'verified'):>13}"
            f" {_rate(impostor, 'inconclusive'):>14} {_rate(not_failed, 'x'):>20}"
        )
    load = os.getloadavg()
    print(
        f"\n{elapsed:.0f} s on {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", default="TD3", help="comma-separated: TD3, TD1")
    parser.add_argument("--seeds", default="0", help="comma-separated photograph seeds")
    parser.add_argument("--only", default="", help="comma-separated degradation labels to run")
    args = parser.parse_args()
    try:
        return run(
            [k.strip() for k in args.kinds.split(",") if k.strip()],
            [int(s) for s in args.seeds.split(",") if s.strip()],
            {x.strip() for x in args.only.split(",") if x.strip()} or None,
        )
    finally:
        shutil.rmtree(_VAR_DIR, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
