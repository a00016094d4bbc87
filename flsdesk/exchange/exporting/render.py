"""One record's row from its stored answers, as the row cache keeps it."""

from __future__ import annotations

from typing import Any

from flsdesk.dataset import Question
from flsdesk.exchange.exporting.applicability import FastApplicability
from flsdesk.exchange.exporting.model import UnencodableCharacter
from flsdesk.exchange.exporting.writer import RowWriter
from flsdesk.exchange.optout import OptoutFields
from flsdesk.exchange.profiles import ExportProfile
from flsdesk.store.store import Store

SORT_SEP = "\x1f"  # below every character of a date, an NHS number or a timestamp


class Renderer:
    """Renders one record from its stored answers: effective answers, opt-out state, the
    encoded row (or the reason it cannot be encoded) and its sort key."""

    def __init__(self, store: Store, profile: ExportProfile, columns: list[Question]) -> None:
        self.store = store
        self.today = store.today()
        self.writer = RowWriter(profile, columns)
        self.helpers: dict[str, tuple[FastApplicability, OptoutFields]] = {}
        self.order = profile.row_order
        self.role = store.definitions.latest.role

    def render(
        self, record_id: int, answers: dict[str, Any], created_at: str
    ) -> tuple[bytes | None, UnencodableCharacter | None, str, str]:
        definition = self.store.definitions.for_answers(answers)
        helper = self.helpers.get(definition.id)
        if helper is None:
            helper = (FastApplicability(definition, self.today), OptoutFields.of(definition))
            self.helpers[definition.id] = helper
        effective = helper[0].effective(answers)
        cells = self.writer.cells(definition, effective)
        try:
            data: bytes | None = self.writer.encode(record_id, cells)
            problem = None
        except UnencodableCharacter as exc:
            data, problem = None, exc
        parts = []
        for name in self.order:
            value = created_at if name == "created_at" else effective.get(self.role(name))
            # Missing values sort last; everything compares as text (ISO dates sort as dates).
            parts.append("1" if value is None else "0" + str(value))
        parts.append(f"0{record_id:012d}")
        return data, problem, helper[1].state(effective), SORT_SEP.join(parts)
