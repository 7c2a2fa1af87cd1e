"""The database itself refuses to change audit entries (and, on PostgreSQL, to delete rows).

Whole-table TRUNCATE stays possible on PostgreSQL, and so does a plain DELETE on SQLite:
that is how Django empties tables between transactional tests. The application and the
admin refuse deletion themselves (rooms.models.AuditEntry, rooms.admin)."""

from django.db import migrations

SQLITE = [
    """CREATE TRIGGER rooms_auditentry_no_update BEFORE UPDATE ON rooms_auditentry
       BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END""",

]
SQLITE_UNDO = [
    "DROP TRIGGER IF EXISTS rooms_auditentry_no_update",
]
POSTGRES = [
    """CREATE OR REPLACE FUNCTION rooms_auditentry_append_only() RETURNS trigger AS $$
       BEGIN RAISE EXCEPTION 'audit entries are append-only'; END; $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER rooms_auditentry_append_only BEFORE UPDATE OR DELETE ON rooms_auditentry
       FOR EACH ROW EXECUTE FUNCTION rooms_auditentry_append_only()""",

]
POSTGRES_UNDO = [
    "DROP TRIGGER IF EXISTS rooms_auditentry_append_only ON rooms_auditentry",
    "DROP FUNCTION IF EXISTS rooms_auditentry_append_only()",
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("rooms", "0003_report_auditentry_warning_and_more")]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE, "postgresql": POSTGRES}),
            _run({"sqlite": SQLITE_UNDO, "postgresql": POSTGRES_UNDO}),
        )
    ]
