"""The staff roles: Django groups and the permissions each holds (docs/staff-roles.md has the table).

`roles_sync` runs after every migrate, so a new deployment has the four groups and an upgrade brings
their permissions up to date. A group's members are the operators' choice; its permissions are ours:
whatever an operator added to one of these groups by hand is taken away again at the next migrate.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps as django_apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission
from django.db.models import Q

REVIEWER = "Reviewer"
PRIVACY_LEAD = "Privacy lead"
AUDITOR = "Auditor"
ADMINISTRATOR = "Administrator"

_REVIEWER = [
    "removal.view_removalrequest",
    "removal.add_removalrequest",
    "removal.work_assigned_request",
    "removal.view_personal_data",
    "removal.view_purgejob",
]
ROLES: dict[str, list[str]] = {
    REVIEWER: _REVIEWER,
    PRIVACY_LEAD: [
        *_REVIEWER,
        "removal.work_any_request",
        "removal.assign_request",
        "removal.approve_purge",
        "removal.extend_deadline",
        "removal.deny_request",
        "removal.erase_personal_data",
        "removal.view_downstreamrecipient",
        "removal.view_suppressionentry",
        "ledger.view_auditevent",
        "ledger.view_checkpoint",
    ],
    AUDITOR: [
        "removal.view_removalrequest",
        "removal.view_purgejob",
        "removal.view_personal_data_with_reason",
        "removal.view_downstreamrecipient",
        "removal.view_suppressionentry",
        "ledger.view_auditevent",
        "ledger.view_checkpoint",
        "ledger.view_witnesspush",
        "ledger.view_regulator",
    ],
    ADMINISTRATOR: [
        "removal.view_removalrequest",
        "auth.view_user",
        "auth.add_user",
        "auth.change_user",
        "auth.view_group",
        "removal.view_downstreamrecipient",
        "removal.add_downstreamrecipient",
        "removal.change_downstreamrecipient",
        "removal.delete_downstreamrecipient",
        "removal.view_suppressionentry",
        "removal.delete_suppressionentry",
        "ledger.view_regulator",
        "ledger.add_regulator",
        "ledger.change_regulator",
        "ledger.view_regulatortoken",
        "ledger.view_checkpoint",
        "ledger.view_witnesspush",
    ],
}


def _permissions(names: list[str]) -> list[Permission]:
    query = Q(pk__in=[])
    for name in names:
        app_label, codename = name.split(".")
        query |= Q(content_type__app_label=app_label, codename=codename)
    found = list(Permission.objects.filter(query))
    missing = set(names) - {f"{p.content_type.app_label}.{p.codename}" for p in found}
    if missing:
        raise LookupError(f"roles name permissions that do not exist: {sorted(missing)}")
    return found


def roles_sync(*, using: str = "default", **_: Any) -> None:
    """Create the four groups, or set their permissions back to the ones above (after migrate)."""
    for app_label in ("auth", "ledger", "removal"):
        # Idempotent: the permissions exist before the groups refer to them, whatever the app order.
        create_permissions(django_apps.get_app_config(app_label), verbosity=0, using=using)
    for name, permissions in ROLES.items():
        group, _created = Group.objects.get_or_create(name=name)
        group.permissions.set(_permissions(permissions))
