"""Who may do what with the exchange on a team database: the admin exports, uploads and keeps
the opt-out lists; entry imports records; review only looks. The store says no first, with a
message naming the role needed and nothing written (no file either); and the server refuses the
write anyway when the store's check is stepped round."""

from __future__ import annotations

from pathlib import Path

import pytest

from flsdesk.exchange import batches, importer, optout
from flsdesk.exchange import export as ex
from flsdesk.store.errors import NotAllowed
from flsdesk.store.roles import Role
from tests.exchange.team_helpers import open_team
from tests.helpers.conftest_records import complete_answers, nhs_number
from tests.helpers.export_records import CHECKED
from tests.helpers.import_helpers import base_row, unique_nhs_numbers, write_csv
from tests.helpers.pg_store import LOGIN_PASSWORD, TeamDatabase, make_team_database


@pytest.fixture
def team(pg_cluster) -> TeamDatabase:  # type: ignore[no-untyped-def]
    team = make_team_database(pg_cluster)
    yield team
    team.drop()


def _count(store, table: str) -> int:  # type: ignore[no-untyped-def]
    with store.engine.connect() as conn:
        return int(conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar() or 0)


def test_only_an_admin_saves_exports_and_opt_out_lists(team: TeamDatabase, tmp_path: Path) -> None:
    admin = open_team(team.add_login("fls_admin", Role.ADMIN).display, LOGIN_PASSWORD, tmp_path)
    nurse = open_team(team.add_login("fls_nurse", Role.ENTRY).display, LOGIN_PASSWORD, tmp_path)
    try:
        nurse.new_record({**complete_answers(nhs_number(123456780)), **CHECKED})
        nurse.new_record(complete_answers(nhs_number(223456780)))  # opt-out not checked
        plan = ex.prepare(nurse, ex.Scope.since_last())  # the report: anyone may look
        assert plan.going
        target = tmp_path / "export.csv"
        with pytest.raises(NotAllowed, match="admin role"):
            ex.write(nurse, plan, target)
        assert not target.exists() and _count(admin, "export_batches") == 0
        with pytest.raises(NotAllowed, match="admin role"):
            optout.write_unchecked_list(nurse, tmp_path / "for-ig.csv")
        assert not (tmp_path / "for-ig.csv").exists() and _count(admin, "optout_lists") == 0

        written = ex.write(admin, ex.prepare(admin, ex.Scope.since_last()), target)
        assert written.batch_id is not None
        with pytest.raises(NotAllowed, match="admin role"):
            batches.mark_uploaded(nurse, written.batch_id, nurse.today())
        with pytest.raises(NotAllowed, match="admin role"):
            batches.discard(nurse, written.batch_id)
        [batch] = batches.list_batches(admin)
        assert batch.state == batches.EXPORTED

        # Stepping round the store's check: the server's grants refuse the nurse's batch.
        with pytest.raises(NotAllowed), nurse.engine.begin() as conn:
            batches.insert_batch(
                conn,
                batch_id=batches.new_batch_id(),
                at=nurse.now(),
                user=nurse.user,
                scope="all",
                profile="x",
                path=tmp_path / "sneaky.csv",
                sha256="0" * 64,
                rows=[],
            )
        assert _count(admin, "export_batches") == 1
    finally:
        nurse.close()
        admin.close()


def test_review_imports_nothing_and_entry_imports(team: TeamDatabase, tmp_path: Path) -> None:
    viewer = open_team(team.add_login("fls_viewer", Role.REVIEW).display, LOGIN_PASSWORD, tmp_path)
    nurse = open_team(team.add_login("fls_nurse2", Role.ENTRY).display, LOGIN_PASSWORD, tmp_path)
    try:
        csv = write_csv(tmp_path, [base_row(n) for n in unique_nhs_numbers(3, 700000000)])
        plan = importer.read_plan(viewer, csv)  # the dry run: anyone may look
        assert not plan.rejected
        with pytest.raises(NotAllowed, match="entry or admin role"):
            importer.apply(viewer, plan)
        assert _count(nurse, "records") == 0
        result = importer.apply(nurse, importer.read_plan(nurse, csv))
        assert result.created == 3 and _count(viewer, "records") == 3
    finally:
        nurse.close()
        viewer.close()
