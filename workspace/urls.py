from __future__ import annotations

from django.urls import path

from workspace import bulk, dashboard_views, login_views, queue_views, request_views, review_views, views

app_name = "workspace"

urlpatterns = [
    path("", views.home_view, name="home"),
    path("queue/", queue_views.queue_view, name="queue"),
    path("dashboard/", dashboard_views.dashboard_view, name="dashboard"),
    path("dashboard/<slug:name>.svg", dashboard_views.chart_view, name="chart"),
    path("queue/saved/", queue_views.saved_view_create, name="saved_view_create"),
    path("queue/bulk/", bulk.bulk_view, name="bulk"),
    path("queue/saved/<int:pk>/delete/", queue_views.saved_view_delete, name="saved_view_delete"),
    path("requests/new/", request_views.log_request_view, name="log_request"),
    path("requests/<uuid:pk>/", request_views.request_view, name="request"),
    path("requests/<uuid:pk>/personal-data/", request_views.personal_data_open_view, name="personal_data"),
    path("requests/<uuid:pk>/headshot/", request_views.headshot_view, name="headshot"),
    path("requests/<uuid:pk>/assign/", request_views.assign_view, name="assign"),
    path("requests/<uuid:pk>/notes/", request_views.note_add_view, name="note_add"),
    path("requests/<uuid:pk>/message/", request_views.message_view, name="message"),
    path("requests/<uuid:pk>/do/<slug:name>/", request_views.action_view, name="action"),
    path("requests/<uuid:pk>/review/", review_views.review_view, name="review"),
    path(
        "requests/<uuid:pk>/review/<int:candidate_id>/photo/",
        review_views.thumbnail_view,
        name="candidate_thumbnail",
    ),
    path("login/", login_views.login_view, name="login"),
    path("login/code/", login_views.second_factor_view, name="second_factor"),
    path("login/set-up/", login_views.enrol_view, name="enrol"),
    path("logout/", login_views.logout_view, name="logout"),
    path("account/", views.account_view, name="account"),
    path("account/recovery-codes/", views.recovery_codes_view, name="recovery_codes"),
    path("account/authenticators/remove/", views.authenticator_remove_view, name="authenticator_remove"),
    path("login/passkey-added/", views.passkey_added_view, name="passkey_added"),
]
