"""What the worker prints stays what it is."""

from __future__ import annotations

from config.celery import app


def test_task_output_is_not_turned_into_warning_log_lines() -> None:
    # With redirection on, the quick start's console e-mails came out as "WARNING celery.redirected".
    assert app.conf.worker_redirect_stdouts is False


def test_mail_goes_to_its_own_queue_and_every_other_task_to_the_default() -> None:
    app.loader.import_default_modules()
    queues = {name: app.amqp.router.route({}, name)["queue"].name for name in app.tasks if "." in name}
    mail = {name for name, queue in queues.items() if queue == "mail"}
    assert mail == {"notifications.tasks.deliver_message", "notifications.tasks.sweep_outbox"}
    jobs = {name for name, queue in queues.items() if name.startswith(("removal.", "ledger."))}
    assert jobs and all(queues[name] == "celery" for name in jobs)


def test_the_procfile_and_the_compose_file_run_a_worker_for_each_queue() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    procfile = (root / "Procfile.dev").read_text()
    assert "worker -Q celery " in procfile and "worker -Q mail " in procfile
    compose = (root / "compose.yaml").read_text()
    assert '"worker", "-Q", "celery"' in compose and '"worker", "-Q", "mail"' in compose
