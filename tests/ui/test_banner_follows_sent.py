"""The record's banner and the reason prompt follow "sent", not "exported" (issue 12.2): a file
only saved does not make the record's edits corrections of something the FLS-DB holds."""

from __future__ import annotations

from flsdesk.exchange import batches
from flsdesk.exchange.export import Scope, export
from tests.helpers.export_records import golden_records


def test_banner_only_once_the_file_is_marked_uploaded(qtbot, store, open_form, tmp_path) -> None:
    record_id = store.new_record(golden_records()[1])
    _plan, result = export(store, Scope.all(), tmp_path / "out.csv")
    assert result is not None and result.batch_id is not None
    form = open_form(record_id)
    assert not form.banner.isVisible()  # saved, not sent: no banner, no reason asked
    form.close()
    batches.mark_uploaded(store, result.batch_id, store.today())
    form = open_form(record_id)
    assert form.banner.isVisible() and "sent to the FLS-DB" in form.banner.text()
