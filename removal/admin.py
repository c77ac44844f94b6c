"""Staff pages for now: the Django admin, with every transition as a button. Writes go through services."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join

from identity import selectors as identity_selectors
from ledger import selectors as ledger_selectors
from removal import selectors, services, staff_actions, staff_review
from removal.forms import (
    StaffIntakeForm,
    add_service_errors,
)
from removal.models import (
    JURISDICTION_CHOICES,
    OPEN_STATUSES,
    DownstreamRecipient,
    PurgeJob,
    RecipientNotice,
    Reminder,
    RemovalRequest,
    Status,
    SuppressionEntry,
)
from removal.permissions import Action, NotAllowed, allowed
from removal.services.purge import purge_job_retry
from removal.services.suppression import suppression_entry_delete
from removal.templatetags.zones import zone
from removal.viewing import headshot_response, viewing_is_open, viewing_open
from vault.services import DataKeyShredded

# Fields of the request page that decrypt the subject's data: shown inside a viewing window only.
_PERSONAL_DATA_FIELDS = ("subject_name", "subject_email", "headshot")

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


class JurisdictionFilter(admin.SimpleListFilter):
    title = "jurisdiction"
    parameter_name = "jurisdiction"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, StrOrPromise]]:
        return list(JURISDICTION_CHOICES)

    def queryset(self, request: HttpRequest, queryset: QuerySet[RemovalRequest]) -> QuerySet[RemovalRequest]:
        if self.value():
            return queryset.filter(jurisdictions__code=self.value())
        return queryset


class ResponseDueFilter(admin.SimpleListFilter):
    """The queue's two questions: what is late, and what is about to be."""

    title = "response due"
    parameter_name = "due"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("overdue", "Overdue"), ("7", "Due within 7 days"), ("14", "Due within 14 days")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[RemovalRequest]) -> QuerySet[RemovalRequest]:
        if not self.value():
            return queryset
        now = timezone.now()
        open_requests = queryset.filter(status__in=OPEN_STATUSES)
        if self.value() == "overdue":
            return open_requests.filter(_due_between(None, now))
        days = 14 if self.value() == "14" else 7
        return open_requests.filter(_due_between(now, now + timedelta(days=days)))


def _due_between(start: datetime | None, end: datetime) -> Q:
    """Requests whose deadline in force (extended, once taken) falls in [start, end)."""
    plain = Q(extended_at__isnull=True, respond_by__lt=end)
    extended = Q(extended_at__isnull=False, respond_by_extended__lt=end)
    if start is not None:
        plain &= Q(respond_by__gte=start)
        extended &= Q(respond_by_extended__gte=start)
    return plain | extended


class AssigneeFilter(admin.SimpleListFilter):
    title = "assignee"
    parameter_name = "assignee"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("me", "Assigned to me"), ("none", "Unassigned")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[RemovalRequest]) -> QuerySet[RemovalRequest]:
        if self.value() == "me":
            return queryset.filter(assignee_id=request.user.pk)
        if self.value() == "none":
            return queryset.filter(assignee__isnull=True)
        return queryset


class ReminderInline(admin.TabularInline):
    model = Reminder
    extra = 0
    can_delete = False
    fields = ("deadline", "point_label", "due_at", "status", "sent_at", "recipient_kind")
    readonly_fields = fields
    ordering = ("due_at",)
    verbose_name_plural = "deadline reminders"

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class RecipientNoticeInline(admin.TabularInline):
    """Evidence that each downstream recipient was told (Art. 19 / §7022): outcomes, never the payload."""

    model = RecipientNotice
    extra = 0
    can_delete = False
    fields = ("recipient", "status", "attempts", "answer", "last_attempt_at", "delivered_at", "response")
    readonly_fields = fields
    ordering = ("created_at",)
    verbose_name_plural = "downstream notices"

    def get_queryset(self, request: HttpRequest) -> QuerySet[RecipientNotice]:
        return super().get_queryset(request).select_related("recipient")

    @admin.display(description="answer")
    def answer(self, obj: RecipientNotice) -> str:
        if obj.message_id:
            return f"outbox message {obj.message_id}" + (f" ({obj.last_error})" if obj.last_error else "")
        if obj.last_status_code:
            return f"HTTP {obj.last_status_code}"
        return obj.last_error or "-"

    @admin.display(description="response SHA-256")
    def response(self, obj: RecipientNotice) -> str:
        return obj.response_sha256 or "-"

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


def _when(moment: datetime) -> str:
    """A moment as every staff page writes one: the language's date-time format, in TIME_ZONE."""
    return date_format(timezone.localtime(moment), "DATETIME_FORMAT")


@admin.register(RemovalRequest)
class RemovalRequestAdmin(admin.ModelAdmin):
    list_display = (
        "reference",
        "status",
        "right_name",
        "channel",
        "jurisdiction_codes",
        "received_at",
        "response_due",
        "assignee",
        "confirmed",
    )
    list_filter = (
        ResponseDueFilter,
        AssigneeFilter,
        "status",
        "right",
        JurisdictionFilter,
        ("received_at", admin.DateFieldListFilter),
        "channel",
    )
    search_fields = ("reference",)
    search_help_text = "Search by reference, or by the subject's exact e-mail address."
    date_hierarchy = "received_at"
    list_per_page = 50
    change_form_template = "admin/removal/removalrequest/change_form.html"
    inlines = [ReminderInline, RecipientNoticeInline]
    actions = ["assign_to_me", "unassign"]
    fields = (
        "reference",
        "status",
        "right",
        "channel",
        "subject_name",
        "subject_email",
        "jurisdiction_codes",
        "language",
        "received_at",
        "status_changed_at",
        "email_confirmed_at",
        "deadlines",
        "identity_checks",
        "headshot",
        "extension",
        "assignee",
        "denial_basis",
        "purge",
        "deletion_receipt",
        "logged_by",
        "audit_trail",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[RemovalRequest]:
        return (
            super()
            .get_queryset(request)
            .select_related("data_key", "assignee")
            .prefetch_related("jurisdictions")
        )

    def get_fields(self, request: HttpRequest, obj: RemovalRequest | None = None) -> tuple[str, ...]:
        # Decrypted data only inside a viewing window the staff member opened with a reason (audited).
        if obj is None or not viewing_is_open(request, obj):
            return tuple(name for name in self.fields if name not in _PERSONAL_DATA_FIELDS)
        return self.fields

    def get_readonly_fields(self, request: HttpRequest, obj: RemovalRequest | None = None) -> tuple[str, ...]:
        return self.get_fields(request, obj)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[RemovalRequest], search_term: str
    ) -> tuple[QuerySet[RemovalRequest], bool]:
        if "@" in search_term:
            # Addresses are stored only sealed; the blind index finds exact matches.
            index = services.blind_index(services.normalise_email(search_term), purpose="email")
            return queryset.filter(email_blind_index=index), False
        return super().get_search_results(request, queryset, search_term.strip().upper())

    @admin.display(description="right", ordering="right")
    def right_name(self, obj: RemovalRequest) -> str:
        # The list's column: the right's name without the subject's explanation in brackets.
        return str(obj.get_right_display()).split(" (")[0]

    @admin.display(description="jurisdictions")
    def jurisdiction_codes(self, obj: RemovalRequest) -> str:
        return ", ".join(j.code for j in obj.jurisdictions.all())

    @admin.display(description="response due", ordering="respond_by")
    def response_due(self, obj: RemovalRequest) -> str:
        kind = "respond_by_extended" if obj.extended_at else "respond_by"
        due = next((d for d in selectors.removal_request_deadlines(request=obj) if d.kind == kind), None)
        return f"{date_format(due.due, 'DATE_FORMAT')} ({due.set_by})" if due else "-"

    @admin.display(description="deadlines")
    def deadlines(self, obj: RemovalRequest) -> str:
        return format_html_join(
            "",
            "<div>{}: end of {} {} ({})</div>",
            (
                (d.label, date_format(d.due, "l, DATE_FORMAT"), zone(d.due), d.set_by)
                for d in selectors.removal_request_deadlines(request=obj)
            ),
        )

    @admin.display(description="purge")
    def purge(self, obj: RemovalRequest) -> str:
        progress = selectors.removal_request_purge_progress(request=obj)
        if progress is None:
            return "not approved yet"
        failed = f", {progress.failed_jobs} job(s) failed" if progress.failed_jobs else ""
        return format_html(
            '{} of {} items deleted{} · <a href="{}">jobs and progress</a>',
            progress.done,
            progress.planned,
            failed,
            reverse("admin:removal_review", args=[obj.pk]),
        )

    @admin.display(description="deletion receipt")
    def deletion_receipt(self, obj: RemovalRequest) -> str:
        receipt = selectors.removal_request_receipt(request=obj)
        if receipt is None:
            return "not issued"
        return format_html_join(", ", "{}: {}", ((label, items) for label, items in receipt.categories))

    @admin.display(description="extension")
    def extension(self, obj: RemovalRequest) -> str:
        if obj.extended_at:
            return (
                f"taken {date_format(obj.extended_at, 'DATE_FORMAT')}: {obj.get_extension_reason_display()}"
            )
        return "available" if obj.respond_by_extended else "not allowed under these laws"

    @admin.display(description="identity checks")
    def identity_checks(self, obj: RemovalRequest) -> str:
        records = identity_selectors.verification_records(subject_ref=services.subject_ref(obj))
        if not records:
            return "none yet"
        return format_html_join(
            "",
            "<div>{} · {} · <strong>{}</strong> · face distance {} · name match {} · "
            "document {} {} · {}</div>",
            (
                (
                    _when(r.created_at),
                    r.get_method_display(),
                    r.outcome,
                    "-" if r.face_distance is None else f"{r.face_distance:.3f}",
                    "-" if r.name_match_score is None else f"{r.name_match_score:.2f}",
                    r.document_type or "-",
                    r.issuing_state,
                    ", ".join(reason["code"] for reason in r.reasons) or "no issues",
                )
                for r in records
            ),
        )

    @admin.display(description="headshot (probe)")
    def headshot(self, obj: RemovalRequest) -> str:
        if not identity_selectors.has_headshot_probe(subject_ref=services.subject_ref(obj)):
            return "none"
        url = reverse("admin:removal_headshot", args=[obj.pk])
        return format_html('<img src="{}" alt="Headshot sent by the subject" style="max-width: 240px">', url)

    def headshot_view(self, request: HttpRequest, pk: str) -> HttpResponse:
        """The decrypted headshot, inside this staff member's viewing window (removal.viewing)."""
        return headshot_response(request, get_object_or_404(RemovalRequest, pk=pk))

    @admin.action(description="Assign the selected requests to me")
    def assign_to_me(self, request: HttpRequest, queryset: QuerySet[RemovalRequest]) -> None:
        count, refused = self._assign(request, queryset, request.user)
        self.message_user(request, f"{count} request(s) assigned to you; their reminders now come to you.")
        if refused:
            self.message_user(request, f"Not assigned (your role): {', '.join(refused)}.", messages.ERROR)

    @admin.action(description="Unassign the selected requests (reminders go to the privacy team)")
    def unassign(self, request: HttpRequest, queryset: QuerySet[RemovalRequest]) -> None:
        count, refused = self._assign(request, queryset, None)
        self.message_user(request, f"{count} request(s) unassigned.")
        if refused:
            self.message_user(request, f"Not unassigned (your role): {', '.join(refused)}.", messages.ERROR)

    def _assign(
        self, request: HttpRequest, queryset: QuerySet[RemovalRequest], assignee: Any
    ) -> tuple[int, list[str]]:
        actor, changed, refused = services.Actor.staff(request.user), 0, []
        for obj in queryset:
            try:
                changed += services.removal_request_assign(request=obj, assignee=assignee, actor=actor)
            except (NotAllowed, services.InvalidRequest):
                refused.append(obj.reference)
        return changed, refused

    def personal_data_view(self, request: HttpRequest, pk: str) -> HttpResponse:
        """POST a reason: opens (and records) a viewing window on this request's personal data."""
        obj = get_object_or_404(RemovalRequest, pk=pk)
        change_url = reverse("admin:removal_removalrequest_change", args=[obj.pk])
        if request.method != "POST":
            return HttpResponseRedirect(change_url)
        try:
            viewing_open(request, obj, reason=request.POST.get("reason", ""))
        except services.InvalidRequest as exc:
            for errors in exc.errors.values():
                messages.error(request, " ".join(errors))
        except NotAllowed as exc:
            messages.error(request, str(exc))
        return HttpResponseRedirect(request.POST.get("next") or change_url)

    @admin.display(description="e-mail confirmed", boolean=True)
    def confirmed(self, obj: RemovalRequest) -> bool:
        return obj.email_confirmed_at is not None

    def _pii(self, obj: RemovalRequest) -> selectors.SubjectPII | None:
        try:
            return selectors.removal_request_pii(request=obj)
        except DataKeyShredded:
            return None

    @admin.display(description="name")
    def subject_name(self, obj: RemovalRequest) -> str:
        pii = self._pii(obj)
        return pii.name if pii else "(erased)"

    @admin.display(description="e-mail")
    def subject_email(self, obj: RemovalRequest) -> str:
        pii = self._pii(obj)
        return pii.email if pii else "(erased)"

    @admin.display(description="audit trail")
    def audit_trail(self, obj: RemovalRequest) -> str:
        events = ledger_selectors.events_for_object("removal_request", obj.id)
        return format_html_join(
            "",
            "<div>{} {} · {} · {}</div>",
            (
                (
                    f"#{row.leaf_index}" if row.leaf_index is not None else "(waiting)",
                    _when(content.occurred_at),
                    content.action,
                    content.actor,
                )
                for row, content in events
            ),
        )

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # Nobody edits a request's fields: the page is read-only (view permission) and each button
        # checks its own action (removal.permissions).
        return False

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "<uuid:pk>/move/<str:move>/", self.admin_site.admin_view(self.move_view), name="removal_move"
            ),
            path(
                "<uuid:pk>/headshot/", self.admin_site.admin_view(self.headshot_view), name="removal_headshot"
            ),
            path(
                "<uuid:pk>/personal-data/",
                self.admin_site.admin_view(self.personal_data_view),
                name="removal_personal_data",
            ),
            path(
                "<uuid:pk>/review/",
                self.admin_site.admin_view(lambda request, pk: staff_review.review_view(self, request, pk)),
                name="removal_review",
            ),
            path(
                "<uuid:pk>/review/<int:candidate_id>/thumbnail/",
                self.admin_site.admin_view(staff_review.candidate_thumbnail_view),
                name="removal_candidate_thumbnail",
            ),
            *super().get_urls(),
        ]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        obj = self.get_object(request, object_id)
        moves = staff_actions.moves_for(obj, request.user) if obj else []
        context = {
            **(extra_context or {}),
            "moves": moves,
            "extra_actions": staff_actions.extra_actions_for(obj, request.user) if obj else [],
            "viewing": bool(obj and viewing_is_open(request, obj)),
            "may_view_personal_data": bool(obj and allowed(request.user, Action.VIEW_PERSONAL_DATA, obj)),
            "view_reasons": services.ViewReason.choices,
            "show_purge": bool(
                obj and obj.status in (Status.PURGING, Status.COMPLETED) and obj.purge_jobs.exists()
            ),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
        }
        return super().change_view(request, object_id, form_url, extra_context=context)

    def move_view(self, request: HttpRequest, pk: str, move: str) -> HttpResponse:
        obj = get_object_or_404(RemovalRequest.objects.select_related("data_key"), pk=pk)
        change_url = reverse("admin:removal_removalrequest_change", args=[obj.pk])
        action = staff_actions.staff_action(move)
        if action is None:
            messages.error(request, f"Unknown action {move!r}.")
            return HttpResponseRedirect(change_url)
        if not allowed(request.user, action.needs, obj):
            raise PermissionDenied(str(NotAllowed(action.needs, obj.reference)))
        form = action.form(request.POST if request.method == "POST" else None, initial=action.initial())
        if request.method == "POST" and form.is_valid():
            try:
                action.run(obj, services.Actor.staff(request.user), form.cleaned_data)
            except services.InvalidRequest as exc:
                add_service_errors(form, exc.errors)
            except (services.IllegalTransition, NotAllowed) as exc:
                messages.error(request, str(exc))
                return HttpResponseRedirect(change_url)
            else:
                messages.success(request, f"{obj.reference}: {action.label} done.")
                return HttpResponseRedirect(change_url)
        return self._confirm_page(
            request, obj, label=action.label, outcome=action.outcome, form=form, warning=action.warning
        )

    def _confirm_page(
        self,
        request: HttpRequest,
        obj: RemovalRequest,
        *,
        label: str,
        outcome: str,
        form: forms.Form,
        warning: str = "",
    ) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": obj,
            "label": label,
            "outcome": outcome,
            "form": form,
            "warning": warning,
            "title": f"{obj.reference}: {label}",
        }
        return TemplateResponse(request, "admin/removal/removalrequest/move.html", context)

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """Log a request that arrived by post, phone or e-mail."""
        form = StaffIntakeForm(
            request.POST if request.method == "POST" else None,
            initial={"received_at": timezone.now().replace(second=0, microsecond=0)},
        )
        if request.method == "POST" and form.is_valid():
            try:
                result = form.log(request.user)
            except services.InvalidRequest as exc:
                add_service_errors(form, exc.errors)
            else:
                if result.created:
                    messages.success(
                        request, f"Logged as {result.request.reference}; the subject was e-mailed."
                    )
                else:
                    messages.warning(
                        request,
                        f"This person already has an open request, {result.request.reference}; "
                        "nothing was added.",
                    )
                return HttpResponseRedirect(
                    reverse("admin:removal_removalrequest_change", args=[result.request.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "form": form,
            "title": "Log a request received by post, phone or e-mail",
        }
        return render(request, "admin/removal/removalrequest/log_request.html", context)


@admin.register(PurgeJob)
class PurgeJobAdmin(admin.ModelAdmin):
    """Every purge job, to watch them across requests: failed ones first need someone."""

    list_display = (
        "request",
        "target",
        "status",
        "progress",
        "failed",
        "attempts",
        "last_error",
        "finished_at",
    )
    list_filter = ("status", "target", "phase")
    search_fields = ("request__reference",)
    actions = ["retry"]
    fields = (
        "request",
        "target",
        "category",
        "phase",
        "status",
        "planned",
        "done",
        "failed",
        "attempts",
        "attempt_limit",
        "next_attempt_at",
        "lease_expires_at",
        "last_error",
        "created_at",
        "started_at",
        "finished_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description="progress")
    def progress(self, obj: PurgeJob) -> str:
        return f"{obj.done} / {obj.planned}"

    @admin.action(description="Retry the selected failed jobs")
    def retry(self, request: HttpRequest, queryset: QuerySet[PurgeJob]) -> None:
        actor, retried, refused = services.Actor.staff(request.user), 0, []
        for job in queryset.filter(status=PurgeJob.Status.FAILED).select_related("request"):
            try:
                retried += purge_job_retry(job=job, actor=actor)
            except NotAllowed:
                refused.append(job.request.reference)
        self.message_user(request, f"{retried} job(s) retrying.")
        if refused:
            self.message_user(request, f"Not retried (your role): {', '.join(refused)}.", messages.ERROR)


class DownstreamRecipientForm(forms.ModelForm):
    endpoint_url = forms.URLField(
        label="Endpoint URL",
        required=False,
        assume_scheme="https",
        max_length=DownstreamRecipient._meta.get_field("endpoint_url").max_length,
        help_text="HTTPS URL the signed notice is POSTed to.",
    )
    # Write-only: the stored secret is never rendered back, not even masked.
    secret = forms.CharField(
        label="New secret",
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Webhooks only. Type the shared secret to set or rotate it; leave empty to keep the "
        "current one. It is stored sealed and never shown again.",
    )

    class Meta:
        model = DownstreamRecipient
        fields = ("name", "kind", "endpoint_url", "email", "active")

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        # The service's own checks, shown beside the inputs rather than as an error page on save.
        proposed = DownstreamRecipient(
            kind=cleaned.get("kind") or "",
            endpoint_url=cleaned.get("endpoint_url") or "",
            email=cleaned.get("email") or "",
            secret_enc=self.instance.secret_enc,
        )
        add_service_errors(
            self, services.downstream_recipient_errors(recipient=proposed, secret=cleaned.get("secret", ""))
        )
        return cleaned


@admin.register(DownstreamRecipient)
class DownstreamRecipientAdmin(admin.ModelAdmin):
    """Who is told about erasures. Deactivate rather than delete: sent notices keep pointing here."""

    form = DownstreamRecipientForm
    list_display = ("name", "kind", "destination", "active", "secret_status", "created_at")
    list_filter = ("kind", "active")
    search_fields = ("name",)
    fields = ("name", "kind", "endpoint_url", "email", "secret", "secret_status", "active", "created_at")
    readonly_fields = ("secret_status", "created_at")

    @admin.display(description="destination")
    def destination(self, obj: DownstreamRecipient) -> str:
        return obj.endpoint_url if obj.kind == DownstreamRecipient.Kind.WEBHOOK else obj.email

    @admin.display(description="secret")
    def secret_status(self, obj: DownstreamRecipient) -> str:
        if obj.secret_set_at:
            return f"set {_when(obj.secret_set_at)}"
        return "not set"

    def save_model(
        self, request: HttpRequest, obj: DownstreamRecipient, form: forms.ModelForm, change: bool
    ) -> None:
        secret = form.cleaned_data.get("secret", "")
        services.downstream_recipient_save(
            recipient=obj, actor=services.Actor.staff(request.user), secret=secret
        )

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(SuppressionEntry)
class SuppressionEntryAdmin(admin.ModelAdmin):
    """Suppression entries by id and dates only: staff never see a template, nor whose it is."""

    list_display = ("id", "created_at", "expires_at")
    list_filter = (("expires_at", admin.DateFieldListFilter),)
    fields = ("id", "created_at", "expires_at")
    readonly_fields = fields
    date_hierarchy = "created_at"
    list_per_page = 100

    def get_queryset(self, request: HttpRequest) -> QuerySet[SuppressionEntry]:
        # Never load the sealed templates into a staff page.
        return super().get_queryset(request).only("id", "created_at", "expires_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    # Deleting (the action on the list, or the button on an entry) goes through the service, which
    # writes the audit event.
    def delete_model(self, request: HttpRequest, obj: SuppressionEntry) -> None:
        suppression_entry_delete(entry=obj, actor=services.Actor.staff(request.user))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[SuppressionEntry]) -> None:
        for entry in queryset:
            suppression_entry_delete(entry=entry, actor=services.Actor.staff(request.user))
