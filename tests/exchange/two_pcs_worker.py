"""One PC of the two-PCs export test (tests/exchange/test_export_two_pcs_pg.py), run as its
own process: per round, prepare "since the last export", wait until the other PC has prepared
too (so both reports are made before either file is written: the race, every round), then write
the file and mark it uploaded in the webtool, as an administrator would.

When the other PC's export got in first, the write is refused (ExportSuperseded) and this PC
prepares again: what is left goes (nothing, if the other PC's file was marked uploaded), or, if
the other PC's file is not marked uploaded yet, this PC leaves the rows to it (the report names
that file; an administrator would wait for it).

    python tests/exchange/two_pcs_worker.py NAME PEER FOLDER ROUNDS
    (the address in FLSDESK_STORE, the password in FLSDESK_DB_PASSWORD)
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from flsdesk.exchange import batches
from flsdesk.exchange import export as ex
from tests.exchange.team_helpers import open_team

WAIT_S = 120


def _wait_for(path: Path) -> None:
    end = time.monotonic() + WAIT_S
    while not path.exists():
        if time.monotonic() > end:
            raise SystemExit(f"gave up waiting for {path.name}")
        time.sleep(0.02)


def _write_and_mark(store, plan, path: Path) -> str:  # type: ignore[no-untyped-def]
    result = ex.write(store, plan, path)
    assert result.batch_id is not None
    batches.mark_uploaded(store, result.batch_id, store.today())
    return result.batch_id


def main(name: str, peer: str, folder: Path, rounds: int) -> int:
    store = open_team(os.environ["FLSDESK_STORE"], os.environ["FLSDESK_DB_PASSWORD"], folder / name)
    try:
        for k in range(1, rounds + 1):
            _wait_for(folder / f"go-{k}")
            plan = ex.prepare(store, ex.Scope.since_last())
            (folder / f"prepared-{k}-{name}").touch()
            _wait_for(folder / f"prepared-{k}-{peer}")
            outcome: dict[str, object] = {"going": len(plan.going)}
            try:
                outcome["wrote"] = _write_and_mark(store, plan, folder / f"{name}-{k}.csv")
                outcome["superseded"] = False
            except ex.ExportSuperseded:
                outcome["superseded"] = True
                again = ex.prepare(store, ex.Scope.since_last())
                outcome["going_again"] = len(again.going)
                outcome["unconfirmed_again"] = [u.batch.batch_id for u in again.unconfirmed]
                if again.is_empty or again.unconfirmed:
                    outcome["wrote"] = None
                else:
                    outcome["wrote"] = _write_and_mark(store, again, folder / f"{name}-{k}b.csv")
            (folder / f"done-{k}-{name}").write_text(json.dumps(outcome))
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])))
