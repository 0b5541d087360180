"""The experiment suite: which runs every paper table needs.

Modules, one job each:
  tables   table specifications (ablations/tables/*.yaml): columns, rows, seeds, paper numbers
  plan     tables x seeds x protocol tasks -> planned runs named by their config hash

The report (tcclip.report) depends on the suite; the suite never imports the report.
"""
