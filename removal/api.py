"""JSON API: public intake and status, staff list/detail/transitions. Same services as the pages."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.utils.translation import get_language, gettext
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import exceptions, generics, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.problems import invalid, problem
from removal import selectors, services
from removal.api_permissions import StaffMayView
from removal.models import (
    JURISDICTION_CHOICES,
    Candidate,
    Channel,
    DenialBasis,
    ExtensionReason,
    IdentityDoubt,
    PurgeJob,
    RemovalRequest,
    Right,
    Status,
    SubjectAsk,
)
from removal.services import suppression
from removal.services.discovery import candidates_decide
from removal.throttles import IntakeRateThrottle

STATUS_TOKEN_HEADER = "X-Status-Token"  # noqa: S105 (a header name)


class StrictBooleanField(serializers.BooleanField):
    """true or false, as the schema says; not 0, 1, "yes" or "on" (a form's habits, not JSON's)."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class IntakeSerializer(serializers.Serializer):
    # Not blank, not only spaces (the pattern says so in the schema).
    name = serializers.RegexField(r"\S", min_length=1, max_length=services.NAME_MAX_LENGTH)
    email = serializers.EmailField()
    right = serializers.ChoiceField(choices=Right.choices)
    jurisdictions = serializers.ListField(
        child=serializers.ChoiceField(choices=JURISDICTION_CHOICES),
        allow_empty=False,
        min_length=1,
        max_length=20,
    )
    language = serializers.ChoiceField(choices=["en", "fr", "de"], required=False)
    suppression_consent = StrictBooleanField(
        required=False,
        default=False,
        help_text=(
            "Opt-in: keep a minimal, encrypted template of the subject's face after the deletion, so that "
            "photos of them are refused if they are collected again (SUPPRESSION_RETENTION_DAYS, then "
            "deleted). Without it nothing of their face is kept."
        ),
    )

    def to_internal_value(self, data: Any) -> Any:
        # Text fields take text: DRF would turn a number into its digits, the schema says string.
        if isinstance(data, dict):
            wrong = {
                name: ["Must be a string."]
                for name in ("name", "email", "right", "language")
                if name in data and not isinstance(data[name], str)
            }
            if isinstance(data.get("jurisdictions"), list) and not all(
                isinstance(code, str) for code in data["jurisdictions"]
            ):
                wrong["jurisdictions"] = ["Must be a list of codes (strings)."]
            if wrong:
                raise serializers.ValidationError(wrong)
        return super().to_internal_value(data)


class DeadlineSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["respond_by", "respond_by_extended"])
    label = serializers.CharField()  # type: ignore[assignment]  # a field named "label", not Field.label
    due = serializers.DateTimeField()
    set_by = serializers.CharField()


class PurgeProgressSerializer(serializers.Serializer):
    done = serializers.IntegerField()
    planned = serializers.IntegerField()


class SubjectStatusSerializer(serializers.Serializer):
    reference = serializers.CharField()
    status = serializers.ChoiceField(choices=Status.choices)
    right = serializers.ChoiceField(choices=Right.choices)
    received_at = serializers.DateTimeField()
    email_masked = serializers.CharField(allow_null=True, help_text="null once personal data was erased")
    email_confirmed = serializers.BooleanField()
    jurisdictions = serializers.ListField(child=serializers.CharField())
    deadlines = DeadlineSerializer(many=True)
    purge_progress = PurgeProgressSerializer(
        allow_null=True, help_text="Items deleted so far, while the purge runs; null otherwise."
    )
    receipt = serializers.CharField(
        allow_null=True,
        help_text="The signed deletion receipt (canonical JSON, docs/receipts.md) once completed; else null.",
    )
    suppression_consent = serializers.BooleanField()
    suppression_kept_until = serializers.DateTimeField(
        allow_null=True, help_text="When the template of the subject's face is deleted; null if none is kept."
    )


class StaffRequestSerializer(serializers.ModelSerializer):
    jurisdictions = serializers.SerializerMethodField()
    response_due = serializers.DateTimeField(
        read_only=True, help_text="The deadline in force (extended, once taken)."
    )
    assignee: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True, help_text="null while nobody is assigned"
    )
    allowed_moves = serializers.SerializerMethodField()

    class Meta:
        model = RemovalRequest
        fields = [
            "id",
            "reference",
            "right",
            "channel",
            "status",
            "language",
            "received_at",
            "status_changed_at",
            "email_confirmed_at",
            "jurisdictions",
            "acknowledge_by",
            "respond_by",
            "respond_by_extended",
            "response_due",
            "extended_at",
            "extension_reason",
            "identity_requested_at",
            "identity_received_at",
            "assignee",
            "denial_basis",
            "allowed_moves",
        ]

    def get_jurisdictions(self, obj: RemovalRequest) -> list[str]:
        return [j.code for j in obj.jurisdictions.all()]

    def get_allowed_moves(self, obj: RemovalRequest) -> list[str]:
        return [move.name for move in services.allowed_moves(obj)]


class TransitionSerializer(serializers.Serializer):
    move = serializers.ChoiceField(choices=sorted(services.MOVES))
    basis = serializers.ChoiceField(choices=DenialBasis.choices, required=False, help_text="For `deny`.")
    note = serializers.CharField(required=False, allow_blank=True, help_text="For `deny`; stored encrypted.")
    ask = serializers.ChoiceField(choices=SubjectAsk.choices, required=False, help_text="For `ask_subject`.")
    doubt = serializers.ChoiceField(
        choices=IdentityDoubt.choices, required=False, help_text="For `ask_subject` with `ask=identity`."
    )
    method = serializers.CharField(required=False, max_length=40, help_text="For `verify`.")


def _invalid(exc: services.InvalidRequest) -> Response:
    return invalid(exc.errors)


class IntakeView(APIView):
    """Submit a request. The answer is the same for a new request and a duplicate of an open one."""

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []
    throttle_classes = [IntakeRateThrottle]

    @extend_schema(
        summary="Submit a removal request",
        examples=[
            OpenApiExample(
                "An erasure under the GDPR and the CCPA",
                value={
                    "name": "Zoë Quintero",
                    "email": "zoe@example.org",
                    "right": "erasure",
                    "jurisdictions": ["EU", "US-CA"],
                    "language": "fr",
                },
                request_only=True,
            ),
            OpenApiExample(
                "Accepted (the same answer for a new request and a duplicate)",
                value={
                    "detail": "Request received. We sent the reference and a private status link by e-mail."
                },
                response_only=True,
                status_codes=["202"],
            ),
        ],
        request=IntakeSerializer,
        responses={
            202: inline_serializer("IntakeAccepted", {"detail": serializers.CharField()}),
            400: OpenApiTypes.OBJECT,
        },
    )
    def post(self, request: Request) -> Response:
        serializer = IntakeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            submission = services.intake_submit(
                name=data["name"],
                email=data["email"],
                right=data["right"],
                jurisdictions=data["jurisdictions"],
                channel=Channel.API,
                actor=services.SUBJECT,
                language=data.get("language") or get_language() or "en",
                suppression_consent=data["suppression_consent"],
            )
        except services.InvalidRequest as exc:
            return _invalid(exc)
        response = Response(
            {"detail": "Request received. We sent the reference and a private status link by e-mail."},
            status=status.HTTP_202_ACCEPTED,
        )
        # What differs between a new request and a duplicate runs after this answer is sent.
        services.intake_process_after_answer(response, submission)
        return response


_TOKEN_PARAM = OpenApiParameter(
    STATUS_TOKEN_HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=True,
    description="From the status link",
)


class MissingStatusToken(exceptions.ParseError):
    """400, not 404: without the header there is nothing to look up."""

    default_detail = f"Send the secret from your status link in the {STATUS_TOKEN_HEADER} header."


def _request_for_token(request: Request) -> RemovalRequest | None:
    """The request the status token names; raises MissingStatusToken when none was sent."""
    if STATUS_TOKEN_HEADER not in request.headers:
        raise MissingStatusToken
    return selectors.removal_request_by_status_token(token=request.headers[STATUS_TOKEN_HEADER])


def _subject_status(removal_request: RemovalRequest) -> dict[str, Any]:
    entry = suppression.suppression_entry_for(request=removal_request)
    return {
        "reference": removal_request.reference,
        "status": removal_request.status,
        "right": removal_request.right,
        "received_at": removal_request.received_at,
        "email_masked": selectors.removal_request_masked_email(request=removal_request),
        "email_confirmed": removal_request.email_confirmed_at is not None,
        "jurisdictions": [j.code for j in removal_request.jurisdictions.all()],
        # As on the status page: the acknowledgement deadline is ours to meet, not the subject's to read.
        "deadlines": [
            vars(d) for d in selectors.removal_request_deadlines(request=removal_request, for_subject=True)
        ],
        "purge_progress": vars(progress)
        if removal_request.status == Status.PURGING
        and (progress := selectors.removal_request_purge_progress(request=removal_request))
        else None,
        "receipt": receipt.document
        if (receipt := selectors.removal_request_receipt(request=removal_request))
        else None,
        "suppression_consent": removal_request.suppression_consent,
        "suppression_kept_until": entry.expires_at if entry else None,
    }


class SubjectStatusView(APIView):
    """The subject's view of their request, authorised by the secret from the status link."""

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(
        summary="Follow your request",
        examples=[
            OpenApiExample(
                "Waiting for the subject's photo",
                value={
                    "reference": "RR-7KQ2-M9XD",
                    "status": "received",
                    "right": "erasure",
                    "received_at": "2026-12-07T10:00:00Z",
                    "email_masked": "z••e@e••••.org",
                    "email_confirmed": True,
                    "jurisdictions": ["EU"],
                    "deadlines": [
                        {
                            "kind": "respond_by",
                            "label": "Response due",
                            "due": "2027-01-07T22:59:59Z",
                            "set_by": "EU",
                        }
                    ],
                    "purge_progress": None,
                    "receipt": None,
                    "suppression_consent": False,
                    "suppression_kept_until": None,
                },
                response_only=True,
            )
        ],
        parameters=[_TOKEN_PARAM],
        responses={200: SubjectStatusSerializer, 404: OpenApiTypes.OBJECT},
    )
    def get(self, request: Request) -> Response:
        removal_request = _request_for_token(request)
        if removal_request is None:
            return problem(status.HTTP_404_NOT_FOUND, "Unknown or outdated status token.")
        return Response(SubjectStatusSerializer(_subject_status(removal_request)).data)


class SubjectWithdrawView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(
        summary="Withdraw your request",
        request=None,
        parameters=[_TOKEN_PARAM],
        responses={200: SubjectStatusSerializer, 404: OpenApiTypes.OBJECT, 409: OpenApiTypes.OBJECT},
    )
    def post(self, request: Request) -> Response:
        removal_request = _request_for_token(request)
        if removal_request is None:
            return problem(status.HTTP_404_NOT_FOUND, "Unknown or outdated status token.")
        try:
            services.removal_request_withdraw(request=removal_request, actor=services.SUBJECT)
        except services.IllegalTransition:
            return problem(status.HTTP_409_CONFLICT, "This request can no longer be withdrawn.")
        return Response(SubjectStatusSerializer(_subject_status(removal_request)).data)


class StaffRequestList(generics.ListAPIView):
    """Requests for privacy staff, newest first; filter with ?status=, ?right=, ?jurisdiction=."""

    permission_classes = [StaffMayView]
    serializer_class = StaffRequestSerializer

    @extend_schema(
        summary="List requests (staff)",
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, enum=Status.values),
            OpenApiParameter("right", OpenApiTypes.STR, enum=Right.values),
            OpenApiParameter("jurisdiction", OpenApiTypes.STR, enum=[c for c, _ in JURISDICTION_CHOICES]),
        ],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    _FILTERS = {
        "status": ("status", set(Status.values)),
        "right": ("right", set(Right.values)),
        "jurisdiction": ("jurisdictions__code", {code for code, _ in JURISDICTION_CHOICES}),
    }

    def get_queryset(self) -> QuerySet[RemovalRequest]:
        queryset = RemovalRequest.objects.prefetch_related("jurisdictions").order_by("-received_at")
        params = self.request.query_params
        for name, (lookup, allowed) in self._FILTERS.items():
            if name not in params:
                continue
            value = params[name]
            if value not in allowed:
                # An unknown value filters nothing silently elsewhere; here it is a mistake to say so.
                raise exceptions.ValidationError({name: [f"Not one of: {', '.join(sorted(allowed))}."]})
            queryset = queryset.filter(**{lookup: value})
        return queryset


@extend_schema_view(get=extend_schema(summary="Show one request (staff)"))
class StaffRequestDetail(generics.RetrieveAPIView):
    permission_classes = [StaffMayView]
    serializer_class = StaffRequestSerializer
    queryset = RemovalRequest.objects.prefetch_related("jurisdictions")


class StaffTransitionView(APIView):
    """Move a request along its lifecycle; illegal moves answer 409 and change nothing."""

    permission_classes = [StaffMayView]

    @extend_schema(
        summary="Move a request to its next status (staff)",
        examples=[
            OpenApiExample("Start verification", value={"move": "start_verification"}, request_only=True),
            OpenApiExample(
                "Deny, with its legal basis",
                value={"move": "deny", "basis": "identity_not_verified", "note": "Two failed attempts."},
                request_only=True,
            ),
        ],
        request=TransitionSerializer,
        responses={200: StaffRequestSerializer, 400: OpenApiTypes.OBJECT, 409: OpenApiTypes.OBJECT},
    )
    def post(self, request: Request, pk: str) -> Response:
        removal_request = generics.get_object_or_404(RemovalRequest.objects.select_related("data_key"), pk=pk)
        serializer = TransitionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        actor = services.Actor.staff(request.user)
        try:
            removal_request = services.removal_request_transition(
                request=removal_request,
                move=data["move"],
                actor=actor,
                **{k: v for k, v in data.items() if k != "move"},
            )
        except services.InvalidRequest as exc:
            return _invalid(exc)
        except services.IllegalTransition as exc:
            return problem(status.HTTP_409_CONFLICT, str(exc))
        return Response(StaffRequestSerializer(removal_request).data)


class ExtensionSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(choices=ExtensionReason.choices)


class IdentityReceivedSerializer(serializers.Serializer):
    received_at = serializers.DateTimeField(required=False, help_text="Default: now.")


def _staff_call(
    request: Request, pk: str, serializer_class: type[serializers.Serializer], call: Any
) -> Response:
    removal_request = generics.get_object_or_404(RemovalRequest.objects.select_related("data_key"), pk=pk)
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    try:
        removal_request = call(removal_request, services.Actor.staff(request.user), serializer.validated_data)
    except services.InvalidRequest as exc:
        return _invalid(exc)
    except services.IllegalTransition as exc:
        return problem(status.HTTP_409_CONFLICT, str(exc))
    return Response(StaffRequestSerializer(removal_request).data)


class StaffExtensionView(APIView):
    """Take the one extension the law allows; the subject is sent the extension notice."""

    permission_classes = [StaffMayView]

    @extend_schema(
        summary="Extend the response deadline (staff)",
        examples=[OpenApiExample("A complex request", value={"reason": "complexity"}, request_only=True)],
        request=ExtensionSerializer,
        responses={200: StaffRequestSerializer, 400: OpenApiTypes.OBJECT, 409: OpenApiTypes.OBJECT},
    )
    def post(self, request: Request, pk: str) -> Response:
        return _staff_call(
            request,
            pk,
            ExtensionSerializer,
            lambda obj, actor, data: services.removal_request_extend(request=obj, actor=actor, **data),
        )


class StaffIdentityReceivedView(APIView):
    """The identity information we asked for arrived: the GB (and paused EU) clock restarts."""

    permission_classes = [StaffMayView]

    @extend_schema(
        summary="Record identity information received (staff)",
        examples=[
            OpenApiExample(
                "Received by post on a given day",
                value={"received_at": "2026-12-07T09:30:00Z"},
                request_only=True,
            )
        ],
        request=IdentityReceivedSerializer,
        responses={200: StaffRequestSerializer, 400: OpenApiTypes.OBJECT},
    )
    def post(self, request: Request, pk: str) -> Response:
        return _staff_call(
            request,
            pk,
            IdentityReceivedSerializer,
            lambda obj, actor, data: services.removal_request_record_identity_received(
                request=obj, actor=actor, **data
            ),
        )


class CandidateSerializer(serializers.ModelSerializer):
    photo = serializers.UUIDField(source="face.photo_id", read_only=True)

    class Meta:
        model = Candidate
        fields = [
            "id",
            "face",
            "photo",
            "distance",
            "lookalike",
            "lookalike_distance",
            "decision",
            "decided_at",
        ]


class CandidateDecisionsSerializer(serializers.Serializer):
    decisions = serializers.DictField(
        child=serializers.ChoiceField(choices=Candidate.Decision.choices),
        help_text='Candidate id → "confirmed" (the subject), "rejected" (someone else) or "pending".',
    )

    def validate_decisions(self, value: dict[str, str]) -> dict[int, str]:
        try:
            return {int(key): decision for key, decision in value.items()}
        except ValueError:
            raise serializers.ValidationError("Candidate ids are whole numbers.") from None


class PurgeJobSerializer(serializers.ModelSerializer):
    class Meta:
        model = PurgeJob
        fields = [
            "id",
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
            "last_error",
            "started_at",
            "finished_at",
        ]


class StaffCandidatesView(APIView):
    """Discovery's candidates for a request (nearest first), and staff decisions on them.

    Thumbnails and the headshot are shown on the admin's review page only (the headshot's every view is
    audited there); this lists ids, scores and decisions.
    """

    permission_classes = [StaffMayView]

    @extend_schema(
        summary="List discovery's candidate photos (staff)", responses={200: CandidateSerializer(many=True)}
    )
    def get(self, request: Request, pk: str) -> Response:
        removal_request = generics.get_object_or_404(RemovalRequest, pk=pk)
        candidates = Candidate.objects.filter(request=removal_request).select_related("face")
        return Response(CandidateSerializer(candidates, many=True).data)

    @extend_schema(
        summary="Decide candidate photos (staff)",
        examples=[
            OpenApiExample(
                "Two confirmed, one rejected",
                value={"decisions": {"101": "confirmed", "102": "confirmed", "103": "rejected"}},
                request_only=True,
            )
        ],
        request=CandidateDecisionsSerializer,
        responses={200: CandidateSerializer(many=True), 400: OpenApiTypes.OBJECT, 409: OpenApiTypes.OBJECT},
    )
    def post(self, request: Request, pk: str) -> Response:
        removal_request = generics.get_object_or_404(RemovalRequest, pk=pk)
        serializer = CandidateDecisionsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            candidates_decide(
                request=removal_request,
                actor=services.Actor.staff(request.user),
                decisions=serializer.validated_data["decisions"],
                user=request.user if isinstance(request.user, User) else None,
            )
        except services.InvalidRequest as exc:
            return _invalid(exc)
        except services.IllegalTransition as exc:
            return problem(status.HTTP_409_CONFLICT, str(exc))
        return self.get(request, pk)


@extend_schema_view(get=extend_schema(summary="List a request's purge jobs and their progress (staff)"))
class StaffPurgeJobsView(generics.ListAPIView):
    """A request's purge jobs and their progress (items planned, done, failed)."""

    permission_classes = [StaffMayView]
    serializer_class = PurgeJobSerializer
    pagination_class = None

    def get_queryset(self) -> QuerySet[PurgeJob]:
        generics.get_object_or_404(RemovalRequest.objects.only("id"), pk=self.kwargs["pk"])
        return (
            PurgeJob.objects.filter(request_id=self.kwargs["pk"])
            .defer("plan")
            .order_by("created_at", "target")
        )


class IdentityUploadSerializer(serializers.Serializer):
    headshot = serializers.FileField(help_text="JPEG, PNG or WebP photo of the subject's face.")
    document = serializers.FileField(
        required=False, help_text="Photo of an identity document, where the deployment's policy asks for one."
    )


class VerificationOutcomeSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=["verified", "inconclusive", "failed"])
    reasons = serializers.ListField(child=serializers.DictField(child=serializers.CharField()))
    attempts_left = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Status.choices)


class SubjectIdentityView(APIView):
    """The subject sends a headshot (and an ID photo where required). Checked in memory: the ID photo is
    never stored. Uploads are capped (413) and rate-limited (429); see `removal.urls`."""

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []
    parser_classes = [MultiPartParser]

    @extend_schema(
        summary="Send your photos to prove who you are",
        parameters=[_TOKEN_PARAM],
        request={"multipart/form-data": IdentityUploadSerializer},
        responses={
            200: VerificationOutcomeSerializer,
            400: OpenApiTypes.OBJECT,
            404: OpenApiTypes.OBJECT,
            409: OpenApiTypes.OBJECT,
            413: OpenApiTypes.OBJECT,
            429: OpenApiTypes.OBJECT,
        },
    )
    def post(self, request: Request) -> Response:
        if getattr(request, "limited", False):
            return problem(status.HTTP_429_TOO_MANY_REQUESTS, "Too many attempts. Try again later.")
        removal_request = _request_for_token(request)
        if removal_request is None:
            return problem(status.HTTP_404_NOT_FOUND, "Unknown or outdated status token.")
        serializer = IdentityUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        document = serializer.validated_data.get("document")
        try:
            record = services.removal_request_submit_identity(
                request=removal_request,
                headshot=serializer.validated_data["headshot"].read(),
                document=document.read() if document else None,
                actor=services.SUBJECT,
            )
        except services.InvalidRequest as exc:
            return _invalid(exc)
        except services.IllegalTransition:
            return problem(status.HTTP_409_CONFLICT, "This request is not waiting for proof of identity.")
        removal_request.refresh_from_db()
        return Response(
            VerificationOutcomeSerializer(
                {
                    "outcome": record.outcome,
                    # Stored in English; told in the language the client asked for.
                    "reasons": [
                        {"code": r["code"], "message": gettext(r["message"])} for r in record.reasons
                    ],
                    "attempts_left": services.attempts_left(removal_request),
                    "status": removal_request.status,
                }
            ).data
        )
