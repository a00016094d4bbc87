"""The KPI dashboard (issue 15): the KPI table, run charts, breakdowns, who each KPI misses, data
completeness, the report year's readiness, and the PDF report. Every figure comes from
``flsdesk.kpi``; nothing here counts or decides."""
