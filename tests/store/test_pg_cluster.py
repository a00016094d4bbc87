"""The test cluster itself: Debian's real server, reached over TCP with a password."""

import psycopg
import pytest


def test_a_fresh_database_per_test_signed_in_with_a_password(pg_database):
    with psycopg.connect(pg_database.admin_url) as conn:
        assert conn.execute("SELECT current_database()").fetchone()[0] == pg_database.name
        assert conn.execute("SHOW password_encryption").fetchone()[0] == "scram-sha-256"


def test_a_wrong_password_is_refused(pg_database):
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(pg_database.url("fls_test_super", "not-the-password"))
