from __future__ import annotations

from django.urls import path

from workspace import login_views, views

app_name = "workspace"

urlpatterns = [
    path("", views.home_view, name="home"),
    path("login/", login_views.login_view, name="login"),
    path("login/code/", login_views.second_factor_view, name="second_factor"),
    path("login/set-up/", login_views.enrol_view, name="enrol"),
    path("logout/", login_views.logout_view, name="logout"),
    path("account/", views.account_view, name="account"),
    path("account/recovery-codes/", views.recovery_codes_view, name="recovery_codes"),
    path("account/authenticators/remove/", views.authenticator_remove_view, name="authenticator_remove"),
    path("login/passkey-added/", views.passkey_added_view, name="passkey_added"),
]
