"""The old hash chain's table goes: its events now live in the request log (ledger migration 0003)."""

from __future__ import annotations

from typing import Any

from django.db import migrations

DROP_GUARD = """
DROP TRIGGER IF EXISTS removal_auditevent_insert_only ON removal_auditevent;
DROP FUNCTION IF EXISTS removal_audit_refuse_change();
"""


def drop_guard(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_GUARD)


class Migration(migrations.Migration):
    dependencies = [("removal", "0010_face_index_deletions"), ("ledger", "0003_import_hash_chain")]
    operations = [
        migrations.RunPython(drop_guard, migrations.RunPython.noop, elidable=False),
        migrations.DeleteModel(name="AuditEvent"),
    ]
