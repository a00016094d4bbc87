"""A second PC for the team-database tests: a real process with its own Store on the same
database, driven line by line over stdin/stdout (one JSON command in, one JSON answer out).

Run as ``python -m tests.store.pg_worker HOST PORT DATABASE USER`` with the password in
``FLSDESK_DB_PASSWORD``. Commands: ``load``, ``save``, ``call``, ``race`` (save one question
over and over, each time from a fresh load, as a person re-opening the record would), ``quit``.
Only test data passes through it.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import date
from pathlib import Path
from typing import Any

from flsdesk import followups as fu
from flsdesk.paths import resolve
from flsdesk.store.records import SaveResult
from flsdesk.store.store import Store
from tests.helpers.pg_store import TestAddress


def _result(result: SaveResult) -> dict[str, Any]:
    return {
        "version": result.version,
        "answers": result.answers,
        "theirs": list(result.theirs),
        "conflicts": [
            {
                "question": c.question,
                "mine": c.mine,
                "theirs": c.theirs,
                "changed_by": c.changed_by,
                "changed_at": None if c.changed_at is None else c.changed_at.isoformat(),
            }
            for c in result.conflicts
        ],
    }


def _run(store: Store, command: dict[str, Any]) -> dict[str, Any]:
    op = command["op"]
    if op == "load":
        record = store.load(command["id"])
        return {"version": record.version, "answers": record.answers}
    if op == "save":
        result = store.save_versioned(
            command["id"],
            command["answers"],
            base_version=command["base_version"],
            base_answers=command["base_answers"],
        )
        return _result(result)
    if op == "call":
        called = date.fromisoformat(command["on"])
        return {"id": fu.log_call_attempt(store, command["id"], "16", called, "No answer")}
    if op == "race":
        saved = []
        for value in command["values"]:
            record = store.load(command["id"])
            answers = {**record.answers, command["key"]: value}
            result = store.save_versioned(
                command["id"], answers, base_version=record.version, base_answers=record.answers
            )
            saved.append(result.version)
        return {"versions": saved}
    raise ValueError(f"unknown command {op}")


def main() -> None:
    host, port, database, user, folder = sys.argv[1:6]
    address = TestAddress(host, int(port), database, user)
    paths = resolve(Path(folder))
    store = Store.open_team(address, os.environ["FLSDESK_DB_PASSWORD"], paths=paths)
    print(json.dumps({"ready": store.user}), flush=True)
    try:
        for line in sys.stdin:
            command = json.loads(line)
            if command["op"] == "quit":
                break
            try:
                answer = _run(store, command)
            except Exception as exc:  # reported to the test, which decides
                answer = {"error": type(exc).__name__, "message": str(exc)}
            print(json.dumps(answer), flush=True)
    finally:
        store.close()


if __name__ == "__main__":
    main()
