"""What the worker prints stays what it is."""

from __future__ import annotations

from config.celery import app


def test_task_output_is_not_turned_into_warning_log_lines() -> None:
    # With redirection on, the quick start's console e-mails came out as "WARNING celery.redirected".
    assert app.conf.worker_redirect_stdouts is False
