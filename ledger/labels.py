"""Names for what the log records by id: `staff:12` → the account's username, a request's uuid → its
reference. For staff pages only: the public log and its exports keep the ids.

Ledger never imports the apps whose objects it records; those apps register a labeller for their
object type (removal does, for "removal_request").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.contrib.auth import get_user_model

Labeller = Callable[[list[str]], dict[str, str]]
_LABELLERS: dict[str, Labeller] = {}


def register_object_labeller(object_type: str, labeller: Labeller) -> None:
    """`labeller` maps a list of object ids to their labels (ids it does not know are left out)."""
    _LABELLERS[object_type] = labeller


def actor_labels(actors: Iterable[str]) -> dict[str, str]:
    """One query for all staff actors: "staff:12" → "rita (staff:12)"; others are left as they are."""
    ids = {actor: actor.removeprefix("staff:") for actor in actors if actor.startswith("staff:")}
    names = dict(
        get_user_model()
        .objects.filter(pk__in=[i for i in ids.values() if i.isdigit()])
        .values_list("pk", "username")
    )
    return {
        actor: f"{names[int(i)]} ({actor})" for actor, i in ids.items() if i.isdigit() and int(i) in names
    }


def object_labels(objects: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """One query per object type: (object_type, object_id) → label, for the types with a labeller."""
    by_type: dict[str, set[str]] = {}
    for object_type, object_id in objects:
        by_type.setdefault(object_type, set()).add(object_id)
    labels: dict[tuple[str, str], str] = {}
    for object_type, ids in by_type.items():
        if labeller := _LABELLERS.get(object_type):
            labels.update({(object_type, k): v for k, v in labeller(sorted(ids)).items()})
    return labels
