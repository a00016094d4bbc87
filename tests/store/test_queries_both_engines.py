"""The window's reads (patient list, counts, About) give the same answers on both engines, and
the change token moves with every change the lists show."""

from __future__ import annotations

from datetime import date

import pytest

from flsdesk import followups as fu
from flsdesk import patient_list as pl
from flsdesk.queries import StoreQueries
from flsdesk.store.store import Store
from tests.helpers.conftest_records import (  # noqa: F401  (fixtures)
    TODAY,
    clock_fixture,
    complete_answers,
    nhs_number,
    paths_fixture,
    store_fixture,
)

NHS = [nhs_number(body) for body in (943476591, 401023456, 512034567, 623045678, 734056789)]


@pytest.fixture
def people(store: Store) -> dict[str, int]:
    rows = {
        "smith": complete_answers(NHS[0], name="Alice Smith", hospital_number="AB1234"),
        "SMYTHE": complete_answers(NHS[1], name="bob SMYTHE", hospital_number="ZZ9"),
        "percent": complete_answers(NHS[2], name="Carol 100% Jones", hospital_number="H_1"),
        "draft": {"1.01": NHS[3], "name": "dave draft"},
    }
    return {k: store.new_record(v) for k, v in rows.items()}


def _ids(store: Store, **kwargs: object) -> list[int]:
    return StoreQueries(store).matching_ids(pl.ListQuery(**kwargs))  # type: ignore[arg-type]


def test_search_is_case_insensitive_and_literal(store: Store, people: dict[str, int]) -> None:
    assert _ids(store, search="SMITH") == [people["smith"]]
    assert sorted(_ids(store, search="sm")) == sorted([people["smith"], people["SMYTHE"]])
    # % and _ are what was typed, not wildcards.
    assert _ids(store, search="100%") == [people["percent"]]
    assert _ids(store, search="h_1") == [people["percent"]]
    assert _ids(store, search="%") == [people["percent"]]
    # The hospital number typed with spaces and hyphens it is not stored with.
    assert _ids(store, search="ab 12-34") == [people["smith"]]
    # NHS number prefix, typed with spaces.
    assert _ids(store, search=f"{NHS[1][:3]} {NHS[1][3:6]}") == [people["SMYTHE"]]


def test_sort_by_name_ignores_case(store: Store, people: dict[str, int]) -> None:
    ids = _ids(store, sort="name", descending=False)
    names = [StoreQueries(store).row(i).name for i in ids]
    assert names == ["Alice Smith", "bob SMYTHE", "Carol 100% Jones", "dave draft"]
    assert _ids(store, sort="name", descending=True) == list(reversed(ids))


def test_status_filter_summary_and_deleted_view(store: Store, people: dict[str, int]) -> None:
    queries = StoreQueries(store)
    assert _ids(store, statuses=frozenset({"Draft"})) == [people["draft"]]
    store.delete(people["SMYTHE"], "Test record")
    summary = queries.summary()
    assert (summary.total, summary.drafts, summary.deleted) == (3, 1, 1)
    assert _ids(store, deleted=True) == [people["SMYTHE"]]
    assert people["SMYTHE"] not in _ids(store)


def test_followup_counts_and_next_followups_agree(store: Store) -> None:
    # Diagnosed 100 days before TODAY, 16-week follow-up not yet answered: due.
    diagnosed = date.fromordinal(TODAY.toordinal() - 100)
    rid = store.new_record(complete_answers(NHS[4], diagnosed, **{"6.01": None}))
    counts = StoreQueries(store).followup_counts(TODAY)
    assert counts["open"] == 1
    found = fu.next_followups(store.engine, store.definitions, [rid], TODAY)
    assert found[rid].state in fu.OPEN_STATES
    assert found[rid].window_opens > diagnosed


def test_component_versions_name_the_engine(store: Store) -> None:
    versions = StoreQueries(store).component_versions()
    assert ("PostgreSQL" if store.is_team else "SQLCipher") in versions
    assert all(versions.values())


def test_change_token_moves_with_every_change_the_lists_show(
    store: Store, people: dict[str, int]
) -> None:
    seen = {store.change_token()}

    def changed() -> bool:
        token = store.change_token()
        new = token not in seen
        seen.add(token)
        return new

    assert not changed()  # reading changes nothing
    answers = store.load(people["smith"]).answers
    store.save(people["smith"], {**answers, "name": "Alice Smith-Jones"})
    assert changed()
    store.delete(people["draft"], "Test record")
    assert changed()
    store.restore(people["draft"])
    assert changed()
    fu.log_call_attempt(store, people["smith"], "16", TODAY, "No answer")
    assert changed()
    store.new_record(complete_answers(NHS[4]))
    assert changed()
    assert not changed()


def test_what_people_type_is_never_refused_by_the_engine(store: Store) -> None:
    # A NUL character (PostgreSQL's text cannot hold one) and a name longer than the SQLite
    # column's declared length (which SQLite never enforced): both engines save and list it.
    long_name = "Ann " + "x" * 400
    odd = complete_answers(NHS[0], name="Bad\x00Name", hospital_number="H\x001")
    rid = store.new_record(odd)
    assert store.load(rid).answers["name"] == "Bad\x00Name"  # the answer itself is kept whole
    assert _ids(store, search="bad") == [rid]
    if store.is_team:  # the server's column has it without the NUL
        assert _ids(store, search="badname") == [rid]
    store.delete(rid, "Other", note="typed \x00 by mistake")
    long_id = store.new_record(complete_answers(NHS[1], name=long_name))
    assert StoreQueries(store).row(long_id).name == long_name
    assert _ids(store, search="xxxxx") == [long_id]
