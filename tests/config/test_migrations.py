"""Models and migrations agree: every model change comes with its migration."""

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_it_has_no_model_changes_without_a_migration(capsys):
    try:
        call_command("makemigrations", "--check", "--dry-run", verbosity=1)
    except SystemExit as exc:  # makemigrations --check exits 1 when it would write something
        pytest.fail(
            f"makemigrations --check found changes (exit {exc.code}):\n{capsys.readouterr().out}"
        )

    assert "No changes detected" in capsys.readouterr().out
