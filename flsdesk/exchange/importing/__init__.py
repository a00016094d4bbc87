"""Import, one job per module: ``read`` (the file: decoding, CSV, header), ``cells`` (a cell to
a stored answer), ``snapshot`` (what the rules need from the store, read once), ``plan`` (the dry
run: match, merge, evaluate), ``apply`` (one transaction), ``report`` (the plan in words).

``flsdesk.exchange.importer`` is the public face; callers import from there.
"""
