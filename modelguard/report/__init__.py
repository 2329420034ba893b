"""Findings for people and machines: the rule table and the renderers.

* :mod:`~modelguard.report.rules` — every rule: id, severity, verdict, title, help, and the
  exception a failing finding of it raises (the budget rules' text: :mod:`~modelguard.report.budget_rules`).
* :mod:`~modelguard.report.redact` — the secrets in play, kept out of every text shown or written.
* :mod:`~modelguard.report.text` — text (for people) and JSON (schema ``modelguard/report/v1``);
  :func:`~modelguard.report.text.render` picks among text, JSON and SARIF.
* :mod:`~modelguard.report.sarif` — SARIF 2.1.0 for code-scanning services.

Pure: imports no I/O module and no scanner.
"""
