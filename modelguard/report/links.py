"""Where modelguard's own documentation lives on the web: the project page and each rule's section.

One place for the URLs SARIF shows next to the tool and every rule (``informationUri``,
``helpUri``) and that docs/rules.md's anchors must match. The project page comes from the installed
package's metadata (``[project.urls]`` in pyproject.toml), so a fork that publishes its own build
points its reports at its own pages without a code change. Pure apart from reading that metadata.
"""

from __future__ import annotations

import functools

__all__ = ["RULES_DOC", "project_url", "rule_anchor", "rule_help_uri"]

FALLBACK_PROJECT_URL = "https://github.com/modelguard/modelguard"
"""Used only when the package metadata names no home page (a source tree run without installing)."""
RULES_DOC = "docs/rules.md"
"""The rules reference, generated from :mod:`modelguard.report.rules` by scripts/gen_rules_doc.py."""
DOCS_REF = "main"
"""The branch the reference is read from on the project page."""


@functools.cache
def project_url() -> str:
    """The project's home page: ``Homepage`` (else ``Source``) of the installed package's Project-URLs."""
    from importlib import metadata

    try:
        urls = metadata.metadata("modelguard").get_all("Project-URL") or []
    except metadata.PackageNotFoundError:
        return FALLBACK_PROJECT_URL
    found = dict(u.split(",", 1) for u in urls if "," in u)
    labels = {k.strip().lower(): v.strip() for k, v in found.items()}
    url = labels.get("homepage") or labels.get("source") or FALLBACK_PROJECT_URL
    return url.rstrip("/")


def rule_anchor(rule_id: str) -> str:
    """The anchor of a rule's section in docs/rules.md: its heading is the bare id, so ``MG-S101`` -> ``mg-s101``."""
    return rule_id.lower()


def rule_help_uri(rule_id: str) -> str:
    """The web address of a rule's section in the rules reference."""
    return f"{project_url()}/blob/{DOCS_REF}/{RULES_DOC}#{rule_anchor(rule_id)}"
