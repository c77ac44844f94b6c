from __future__ import annotations

from django.urls import path

from removal import api, views

app_name = "removal"

urlpatterns = [
    path("", views.request_form, name="request_form"),
    path("submitted/", views.submitted, name="submitted"),
    path("confirm/", views.confirm_email, name="confirm_email"),
    path("status/", views.status_page, name="status"),
    path("status/verify/", views.verify_identity, name="verify_identity"),
    path("status/receipt/", views.status_receipt, name="status_receipt"),
    path("receipts/verify/", views.receipt_verify_page, name="receipt_verify"),
    path("receipts/public-keys.json", views.receipt_public_keys, name="receipt_public_keys"),
    path("api/v1/requests/", api.IntakeView.as_view(), name="api_intake"),
    path("api/v1/status/", api.SubjectStatusView.as_view(), name="api_status"),
    path("api/v1/status/withdraw/", api.SubjectWithdrawView.as_view(), name="api_withdraw"),
    path(
        "api/v1/status/identity/",
        views.identity_upload_guard(api.SubjectIdentityView.as_view()),
        name="api_identity",
    ),
    path("api/v1/staff/requests/", api.StaffRequestList.as_view(), name="api_staff_requests"),
    path("api/v1/staff/requests/<uuid:pk>/", api.StaffRequestDetail.as_view(), name="api_staff_request"),
    path(
        "api/v1/staff/requests/<uuid:pk>/extension/",
        api.StaffExtensionView.as_view(),
        name="api_staff_extension",
    ),
    path(
        "api/v1/staff/requests/<uuid:pk>/identity-received/",
        api.StaffIdentityReceivedView.as_view(),
        name="api_staff_identity_received",
    ),
    path(
        "api/v1/staff/requests/<uuid:pk>/candidates/",
        api.StaffCandidatesView.as_view(),
        name="api_staff_candidates",
    ),
    path(
        "api/v1/staff/requests/<uuid:pk>/purge-jobs/",
        api.StaffPurgeJobsView.as_view(),
        name="api_staff_purge_jobs",
    ),
    path(
        "api/v1/staff/requests/<uuid:pk>/transitions/",
        api.StaffTransitionView.as_view(),
        name="api_staff_transition",
    ),
]
