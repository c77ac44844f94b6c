from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from notifications.models import DeliveryAttempt, Message
from notifications.services import message_resend


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = ("number", "started_at", "duration_ms", "outcome", "error")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    """Delivery status only: content stays sealed, so a glance at the outbox shows no personal data."""

    list_display = ("template", "about", "status", "attempts", "created_at", "sent_at", "last_error")
    list_filter = ("status", "template", "created_at")
    search_fields = ("about",)
    fields = (
        "template",
        "language",
        "about",
        "status",
        "attempts",
        "next_attempt_at",
        "sent_at",
        "last_error",
    )
    readonly_fields = fields
    inlines = [DeliveryAttemptInline]
    actions = ["resend"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.action(description="Re-send failed messages")
    def resend(self, request: HttpRequest, queryset: QuerySet[Message]) -> None:
        count = sum(message_resend(message=message) for message in queryset)
        skipped = queryset.count() - count
        self.message_user(request, f"{count} message(s) queued again.", messages.SUCCESS)
        if skipped:
            self.message_user(
                request, f"{skipped} message(s) were not failed and were left alone.", messages.WARNING
            )
