"""The service's own audit: the FLS-DB KPIs, who missed each one, data completeness and the
annual deadline, computed locally from the store (issue 15). Qt-free.

- ``definitions``: the KPI data file (``resources/kpi/flsdb-kpis.toml``).
- ``engine``: ``compute`` (KPIs 1–11 overall, per month, broken down), ``missed``, ``not_yet_due``.
- ``completeness``: per lite question, the share of records lacking it; the drafts.
- ``annual``: the report year, its deadline, the days left, the readiness lists.
"""
