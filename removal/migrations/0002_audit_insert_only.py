"""Make the audit table insert-only on PostgreSQL: UPDATE and DELETE raise an error.

SQLite (the zero-setup default) gets no trigger: test runs flush tables with DELETE, and the hash
chain still detects any change there.
"""

from __future__ import annotations

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION removal_audit_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit events are insert-only (%% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER removal_auditevent_insert_only
    BEFORE UPDATE OR DELETE ON removal_auditevent
    FOR EACH ROW EXECUTE FUNCTION removal_audit_refuse_change();
"""

DROP = """
DROP TRIGGER IF EXISTS removal_auditevent_insert_only ON removal_auditevent;
DROP FUNCTION IF EXISTS removal_audit_refuse_change();
"""


def forwards(apps: object, schema_editor: object) -> None:
    if schema_editor.connection.vendor == "postgresql":  # type: ignore[attr-defined]
        schema_editor.execute(CREATE)  # type: ignore[attr-defined]


def backwards(apps: object, schema_editor: object) -> None:
    if schema_editor.connection.vendor == "postgresql":  # type: ignore[attr-defined]
        schema_editor.execute(DROP)  # type: ignore[attr-defined]


class Migration(migrations.Migration):
    dependencies = [("removal", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
