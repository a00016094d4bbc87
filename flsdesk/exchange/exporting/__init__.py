"""The export, one job per module: ``scope`` (which records), ``applicability`` (effective
answers, fast), ``writer`` (a row in the profile's CSV dialect), ``render`` and ``row_cache`` (a
record's row, rendered once and cached), ``plan`` (the report and the rows), ``write`` (the file
and its batch), ``status`` (what the form and the status bar ask about sending).

``flsdesk.exchange.export`` is the public face; callers import from there.
"""
