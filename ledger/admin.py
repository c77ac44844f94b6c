"""The log in the admin: read-only lists of events, checkpoints and witnesses, and a verify button."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse

from ledger.labels import actor_labels, object_labels
from ledger.models import AuditEvent, Checkpoint, Regulator, RegulatorAccount, RegulatorToken, WitnessPush
from ledger.regulators import regulator_token_revoke
from ledger.verification import ledger_verify


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class LabelledChangeList(ChangeList):
    """Labels every row's actor and object in two queries for the page, not two per row."""

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        rows = list(self.result_list)
        actors = actor_labels(row.actor for row in rows)
        objects = object_labels((row.object_type, row.object_id) for row in rows)
        for row in rows:
            row.actor_label = actors.get(row.actor, row.actor)
            row.object_label = objects.get((row.object_type, row.object_id), row.object_id)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("leaf_index", "occurred_at", "action", "who", "object_type", "what", "outcome")
    list_filter = ("action", "object_type", ("occurred_at", admin.DateFieldListFilter))
    search_fields = ("object_id", "=event_id")
    readonly_fields = (
        "leaf_index",
        "event_id",
        "occurred_at",
        "actor",
        "action",
        "object_type",
        "object_id",
        "outcome",
        "payload",
        "sequenced_at",
    )
    exclude = ("leaf_hash",)
    change_list_template = "admin/ledger/auditevent/change_list.html"

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return LabelledChangeList

    @admin.display(description="actor", ordering="actor")
    def who(self, obj: AuditEvent) -> str:
        return str(getattr(obj, "actor_label", obj.actor))

    @admin.display(description="object", ordering="object_id")
    def what(self, obj: AuditEvent) -> str:
        return str(getattr(obj, "object_label", obj.object_id))

    def get_urls(self) -> list[URLPattern]:
        return [
            path("verify/", self.admin_site.admin_view(self.verify_view), name="ledger_verify"),
            *super().get_urls(),
        ]

    def verify_view(self, request: HttpRequest) -> HttpResponse:
        report = ledger_verify()
        if report.ok:
            messages.success(request, report.summary())
        else:
            messages.error(request, f"{report.summary()}. First: {report.problems[0]}")
        return HttpResponseRedirect(reverse("admin:ledger_auditevent_changelist"))


@admin.register(Checkpoint)
class CheckpointAdmin(ReadOnlyAdmin):
    list_display = ("tree_size", "created_at", "key_id")
    readonly_fields = ("tree_size", "timestamp_ms", "key_id", "note", "tree_head_signature", "created_at")
    exclude = ("root_hash",)


@admin.register(WitnessPush)
class WitnessPushAdmin(ReadOnlyAdmin):
    list_display = ("witness", "tree_size", "pushed_at", "last_error")


class RegulatorAccountInline(admin.TabularInline):
    """The people at this regulator who sign in (an account that is not staff; it sets up its second
    factor at its first sign-in and sees the regulator's pages only)."""

    model = RegulatorAccount
    extra = 0
    autocomplete_fields = ("user",)


@admin.register(Regulator)
class RegulatorAdmin(admin.ModelAdmin):
    list_display = ("name", "jurisdictions", "created_at")
    inlines = [RegulatorAccountInline]


@admin.register(RegulatorToken)
class RegulatorTokenAdmin(ReadOnlyAdmin):
    """Tokens are issued with `manage.py regulator_token issue` (shown once); revoke with the action."""

    list_display = ("prefix", "regulator", "scopes", "expires_at", "revoked_at", "last_used_at")
    exclude = ("token_hash",)
    actions = ["revoke"]

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: Any) -> None:
        for record in queryset:
            regulator_token_revoke(record=record, actor=f"staff:{request.user.pk}")
        messages.success(request, f"{queryset.count()} token(s) revoked")
