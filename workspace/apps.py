from __future__ import annotations

from django.apps import AppConfig


class WorkspaceConfig(AppConfig):
    name = "workspace"
    verbose_name = "Staff workspace"

    def ready(self) -> None:
        from django.contrib import admin

        from workspace import security_events  # noqa: F401  (login, logout and lockout go on the record)
        from workspace.admin_site import StaffAdminSite

        # The stock admin (superusers, and staff until the workspace has every page) behind the same
        # login and second factor as the workspace.
        admin.site.__class__ = StaffAdminSite
