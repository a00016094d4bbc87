"""One client PC of the team benchmark's concurrency run (run as its own process by
``bench_team``): open the team store, then for a while open a random record, change two answers
and save it, as a nurse's form does (a versioned save: a record someone saved meanwhile is
merged, never overwritten).

Each save changes this client's own question (``bench_c<N>``: only this client writes it, so its
last acknowledged value must be the one stored at the end) and the shared ``notes`` (every client
writes it: a save that finds it changed meanwhile gets a conflict for it, and must not write it).
Every acknowledged save is written to the output file as one JSON line; ``bench_team`` checks
them against the audit trail and the final answers.

    python -m bench.team_client CLIENT SECONDS IDS_FILE OUT_FILE DATA_DIR
    (the address in FLSDESK_STORE, the password in FLSDESK_DB_PASSWORD)
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    from bench.team_setup import open_team_store

    client, seconds, ids_file, out_file, data_dir = argv
    number = int(client)
    ids = json.loads(Path(ids_file).read_text())
    rng = random.Random(1000 + number)
    store = open_team_store(
        os.environ["FLSDESK_STORE"], os.environ["FLSDESK_DB_PASSWORD"], data_dir
    )
    mine = f"bench_c{number}"
    errors = 0
    with open(out_file, "w", encoding="utf-8") as out:
        end = time.monotonic() + float(seconds)
        i = 0
        while time.monotonic() < end:
            i += 1
            rid = rng.choice(ids)
            try:
                loaded = store.load(rid)
                answers = dict(loaded.answers)
                value = f"{number}-{i}"
                answers[mine] = value
                answers["notes"] = value
                start = time.perf_counter()
                result = store.save_versioned(
                    rid,
                    answers,
                    base_version=loaded.version,
                    base_answers=loaded.answers,
                    reason="benchmark",
                )
                took = time.perf_counter() - start
            except Exception as exc:  # a save not acknowledged: counted, never recorded as done
                errors += 1
                print(f"client {number}: {type(exc).__name__}: {exc}", file=sys.stderr)
                continue
            conflicts = [c.question for c in result.conflicts]
            out.write(
                json.dumps(
                    {
                        "rid": rid,
                        "key": mine,
                        "value": value,
                        "notes": "notes" not in conflicts,
                        "version": result.version,
                        "seconds": took,
                        "merged": result.merged,
                        "conflicts": conflicts,
                    }
                )
                + "\n"
            )
    store.close()
    print(json.dumps({"client": number, "errors": errors}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
