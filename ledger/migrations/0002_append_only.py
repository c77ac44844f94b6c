"""PostgreSQL triggers that make the log append-only.

* An event may change once, and only by getting its position: leaf_index and sequenced_at from NULL
  to a value, every other column as it was. Any other UPDATE, and every DELETE, is refused.
* A checkpoint never changes and is never deleted.
* TRUNCATE of either table is refused, unless the session has set `ledger.allow_truncate = 'on'`:
  the test suite's door for emptying tables between tests. A database role that may set it may
  also drop these triggers; what catches such an operator is a checkpoint held outside the database
  (regulators, witnesses: docs/ledger.md).

SQLite (the zero-setup default) gets no triggers; ledger_verify still detects any change there.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

CREATE = """
CREATE FUNCTION ledger_event_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND OLD.leaf_index IS NULL AND NEW.leaf_index IS NOT NULL AND NEW.sequenced_at IS NOT NULL
       AND NEW.id = OLD.id AND NEW.event_id = OLD.event_id AND NEW.occurred_at = OLD.occurred_at
       AND NEW.actor = OLD.actor AND NEW.action = OLD.action AND NEW.object_type = OLD.object_type
       AND NEW.object_id = OLD.object_id AND NEW.outcome = OLD.outcome AND NEW.payload = OLD.payload
       AND NEW.leaf_hash = OLD.leaf_hash THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the request log is append-only (%% of an event refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE FUNCTION ledger_checkpoint_guard() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'signed checkpoints never change (%% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE FUNCTION ledger_truncate_guard() RETURNS trigger AS $$
BEGIN
    IF coalesce(current_setting('ledger.allow_truncate', true), '') = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'the request log is append-only (TRUNCATE of %% refused)', TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER ledger_auditevent_append_only BEFORE UPDATE OR DELETE ON ledger_auditevent
    FOR EACH ROW EXECUTE FUNCTION ledger_event_guard();
CREATE TRIGGER ledger_checkpoint_append_only BEFORE UPDATE OR DELETE ON ledger_checkpoint
    FOR EACH ROW EXECUTE FUNCTION ledger_checkpoint_guard();
CREATE TRIGGER ledger_auditevent_no_truncate BEFORE TRUNCATE ON ledger_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_truncate_guard();
CREATE TRIGGER ledger_checkpoint_no_truncate BEFORE TRUNCATE ON ledger_checkpoint
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_truncate_guard();
"""

DROP = """
DROP TRIGGER IF EXISTS ledger_auditevent_append_only ON ledger_auditevent;
DROP TRIGGER IF EXISTS ledger_checkpoint_append_only ON ledger_checkpoint;
DROP TRIGGER IF EXISTS ledger_auditevent_no_truncate ON ledger_auditevent;
DROP TRIGGER IF EXISTS ledger_checkpoint_no_truncate ON ledger_checkpoint;
DROP FUNCTION IF EXISTS ledger_event_guard();
DROP FUNCTION IF EXISTS ledger_checkpoint_guard();
DROP FUNCTION IF EXISTS ledger_truncate_guard();
"""


def forwards(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
