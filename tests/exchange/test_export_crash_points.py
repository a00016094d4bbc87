"""An export killed with SIGKILL at every rename, fsync and commit of its write: afterwards the
store and the folder agree, and no record is lost or counted twice.

A real child process writes a real export and kills itself (SIGKILL, as ``kill -9``) just before
or just after the Nth call of one step: the fsync of the temporary file, the commit recording the
batch, the rename into place, the fsync of the folder, the commit finishing the batch. The next
process then finds, whatever the point:

- a file in place is always in the outbox, recognised by its hash (the same batch id, so an upload
  of it is never a second "external" batch, and it is never written and sent twice);
- no file in place means no batch, and the records all go with the next export;
- after marking what was saved as uploaded (and exporting what was not), "since the last export"
  has nothing left, and each record was sent exactly once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from flsdesk.exchange import batches
from flsdesk.exchange import export as ex
from flsdesk.files import TEMP_PREFIX
from flsdesk.store.store import Store
from tests.helpers.conftest_records import (  # noqa: F401  (fixtures)
    TEST_KEY,
    TEST_USER,
    complete_answers,
    nhs_number,
    paths_fixture,
)

REPO = Path(__file__).resolve().parents[2]
RECORDS = 40

CHILD = textwrap.dedent(
    """
    import contextlib, os, signal, sys
    sys.path.insert(0, os.environ["REPO"])
    from flsdesk import files
    from flsdesk.paths import resolve
    from flsdesk.store.store import Store
    from flsdesk.exchange import export as ex

    step, when, nth = sys.argv[3], sys.argv[4], int(sys.argv[5])
    seen = {"fsync": 0, "replace": 0, "commit": 0}

    def die():
        sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    def around(name, call):
        seen[name] += 1
        hit = name == step and seen[name] == nth
        if hit and when == "before":
            die()
        result = call()
        if hit and when == "after":
            die()
        return result

    store = Store.open(resolve(sys.argv[1]), bytes.fromhex(os.environ["KEY"]), "CR (crash)")
    store.set_setting("require_optout_check", False)
    plan = ex.prepare(store, ex.Scope.since_last())

    real_fsync, real_replace = os.fsync, os.replace
    real_transaction = store.write_transaction

    @contextlib.contextmanager
    def transaction(*args, **kwargs):
        # "before": killed with the transaction's rows written but not committed.
        with contextlib.ExitStack() as stack:
            conn = stack.enter_context(real_transaction(*args, **kwargs))
            yield conn
            around("commit", lambda: stack.close())

    store.write_transaction = transaction
    files.os.fsync = lambda fd: around("fsync", lambda: real_fsync(fd))
    files.os.replace = lambda a, b: around("replace", lambda: real_replace(a, b))
    ex.write(store, plan, sys.argv[2])
    print("finished", flush=True)
    """
)

# Every step of the write, in the order it happens (see export.write and files.atomic_write).
POINTS = [
    ("fsync", 1),  # the temporary file's rows are on disk
    ("commit", 1),  # the batch recorded as "writing"
    ("replace", 1),  # the rename into place
    ("fsync", 2),  # the folder, making the rename durable
    ("commit", 2),  # the batch finished ("exported")
]
RENAMED = {("replace", 1, "after"), ("fsync", 2, "before"), ("fsync", 2, "after")}
RENAMED |= {("commit", 2, "before"), ("commit", 2, "after")}


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A store of RECORDS records, copied for each crash point (cheaper than re-creating it)."""
    from flsdesk.paths import resolve

    folder = tmp_path_factory.mktemp("crash-template")
    paths = resolve(folder / "data")
    with Store.create(paths, TEST_KEY, TEST_USER, "Crash FLS") as s:
        s.bulk_insert([complete_answers(nhs_number(300000000 + 10 * i)) for i in range(RECORDS)])
    return paths.data_dir


def _copy_store(template: Path, target: Path) -> None:
    target.mkdir(parents=True)
    for item in template.iterdir():
        if item.is_file() and not item.name.endswith(".lock"):
            (target / item.name).write_bytes(item.read_bytes())
            os.chmod(target / item.name, 0o600)


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize(("step", "nth"), POINTS)
def test_export_killed_at_every_step(
    template: Path, tmp_path: Path, step: str, nth: int, when: str
) -> None:
    from flsdesk.paths import resolve

    paths = resolve(tmp_path / "data")
    _copy_store(template, paths.data_dir)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / "export.csv"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "REPO": str(REPO), "KEY": TEST_KEY.hex()}
    child = subprocess.run(
        [sys.executable, str(script), str(paths.data_dir), str(target), step, when, str(nth)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr  # the crash point was reached
    assert "finished" not in child.stdout
    renamed = (step, nth, when) in RENAMED
    assert target.exists() == renamed

    with Store.open(paths, TEST_KEY, TEST_USER) as s:
        listed = batches.list_batches(s)  # the outbox (and every start) settles the batch
        plan = ex.prepare(s, ex.Scope.since_last())
        # Nothing was sent: every record goes, none is lost.
        assert len(plan.going) == RECORDS and plan.unchanged == 0
        if renamed:
            [batch] = listed
            assert batch.state == batches.EXPORTED and batch.record_count == RECORDS
            assert batch.file_sha256 == batches.file_sha256(target)
            # Uploading that file later finds this batch (its id is the idempotency key):
            # never a second batch for the same bytes.
            found = batches.find_by_sha256(s, batches.file_sha256(target))
            assert found is not None and found.batch_id == batch.batch_id
            assert [u.batch.batch_id for u in plan.unconfirmed] == [batch.batch_id]
            assert plan.unconfirmed[0].records == RECORDS
            # The user uploads it in the webtool and marks it: everything is sent, once.
            batches.mark_uploaded(s, batch.batch_id, s.today())
        else:
            assert listed == [] and plan.unconfirmed == []
            # The export is simply done again. (Which temporary files of the dead one are
            # removed, and when, is files.atomic_write's business, tested with it.)
            result = ex.write(s, plan, target)
            assert batches.file_sha256(target) == result.sha256
            batches.mark_uploaded(s, str(result.batch_id), s.today())
        assert ex.prepare(s, ex.Scope.since_last()).going == []
        with s.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT r.record_id, count(*) FROM export_rows r JOIN export_batches b "
                "ON b.seq = r.batch_seq WHERE b.state = 'sent' GROUP BY r.record_id"
            ).all()
            writing = conn.exec_driver_sql(
                "SELECT count(*) FROM export_batches WHERE state = 'writing'"
            ).scalar()
        assert len(rows) == RECORDS and {n for _rid, n in rows} == {1}  # each sent once
        assert writing == 0
    if renamed:  # the dead export's temporary file became the target: nothing else is left
        assert not any(p.name.startswith(TEMP_PREFIX) for p in out_dir.iterdir())
