"""One PC of the two-PCs opt-out test (tests/exchange/test_optout_two_pcs_pg.py), run as its own
process: apply the information-governance team's answer. With ``pause``, it stops after its
first record is marked (inside the opt-out work, holding the team's opt-out lock) until the test
releases it.

    python tests/exchange/optout_pc_worker.py NAME FOLDER RESULT_FILE pause|run
    (the address in FLSDESK_STORE, the password in FLSDESK_DB_PASSWORD)
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from flsdesk.exchange import optout
from tests.exchange.team_helpers import open_team

WAIT_S = 120


def main(name: str, folder: Path, result_file: Path, mode: str) -> int:
    store = open_team(os.environ["FLSDESK_STORE"], os.environ["FLSDESK_DB_PASSWORD"], folder / name)
    try:
        opted_out, _odd = optout.read_result(result_file)

        def progress(done: int, total: int) -> None:
            if mode == "pause" and done == 1:
                (folder / f"paused-{name}").touch()
                end = time.monotonic() + WAIT_S
                while not (folder / "release").exists():
                    if time.monotonic() > end:
                        raise SystemExit("never released")
                    time.sleep(0.02)

        (folder / f"started-{name}").touch()
        applied = optout.apply_result(store, opted_out, progress=progress)
        (folder / f"done-{name}").write_text(
            json.dumps({"opted_out": applied.opted_out, "not_opted_out": applied.not_opted_out})
        )
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]))
