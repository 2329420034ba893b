"""Every model ID the providers' deprecation pages name is known to the catalog, with the right status.

``data/deprecations.csv`` is the extraction: one row per ID a deprecation page names (OpenAI,
Anthropic, Mistral, Cohere, Gemini API, Vertex AI), the shutdown date exactly as the page writes
it ("Dec 11, 2026", "2026-03-26" with non-breaking hyphens, "none given: To be announced"), the
page's URL and the date of the copy it was read from. The catalog is held to it on pinned days: the
day before a shutdown the ID is deprecated, on the day it is retired, and an ID whose page gives no
day stays deprecated for ever (never guessed retired, never active).
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from modelguard import clock
from modelguard.cli import run
from modelguard.providers.catalog import load_catalog

DATA = Path(__file__).parent / "data" / "deprecations.csv"
ROWS = list(csv.DictReader(DATA.open(encoding="utf-8", newline="")))
PINNED = "2026-11-26"
UNDATED = "none given"


def _page_date(text: str) -> date | None:
    """The shutdown date as the page writes it; None for "none given: ..."."""
    if text.startswith(UNDATED):
        return None
    text = text.replace("\u2011", "-")
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return date.fromisoformat(text)
    for fmt in ("%b %d, %Y", "%B %d, %Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            pass
    raise AssertionError(f"unreadable shutdown date {text!r} in {DATA.name}")


def _row_id(row: dict[str, str]) -> str:
    return f"{row['provider']}/{row['platform']}:{row['model']}"


def test_the_list_covers_every_provider_with_a_deprecation_page() -> None:
    providers = {(r["provider"], r["platform"]) for r in ROWS}
    assert providers >= {("openai", "api"), ("anthropic", "api"), ("mistral", "api"), ("cohere", "api"),
                         ("gemini", "api"), ("gemini", "vertex")}
    assert len({_row_id(r) for r in ROWS}) == len(ROWS), "an ID is listed twice"
    for row in ROWS:
        assert row["source"].startswith("https://"), _row_id(row)
        assert row["seen"] == "undated" or date.fromisoformat(row["seen"]), _row_id(row)
        assert row["seen_in"], _row_id(row)


@pytest.mark.parametrize("row", ROWS, ids=_row_id)
def test_the_catalog_knows_each_id_with_the_page_facts(row: dict[str, str]) -> None:
    life = load_catalog().lifecycle(row["provider"], row["platform"], row["model"])
    assert life is not None, "named on the provider's deprecation page but unknown to the catalog"
    shutdown = _page_date(row["shutdown"])
    assert life.retires_on == (shutdown.isoformat() if shutdown else "")
    assert life.undated is (shutdown is None)
    assert (life.source, life.replacement) == (row["source"], row["replacement"])


@pytest.mark.parametrize("row", ROWS, ids=_row_id)
def test_status_on_pinned_days(row: dict[str, str], today: Callable[[str], None]) -> None:
    life = load_catalog().lifecycle(row["provider"], row["platform"], row["model"])
    assert life is not None
    shutdown = _page_date(row["shutdown"])
    today(PINNED)
    expected = "deprecated" if shutdown is None or shutdown > clock.today() else "retired"
    assert life.status(clock.today()) == expected
    if shutdown is not None:
        today((shutdown - timedelta(days=1)).isoformat())
        assert life.status(clock.today()) == "deprecated"
        today(shutdown.isoformat())
        assert life.status(clock.today()) == "retired"
    else:
        today("2199-01-01")  # no day was published: it never becomes "retired" by guesswork
        assert life.status(clock.today()) == "deprecated"


def test_every_fact_extracted_from_the_pages_is_on_the_list() -> None:
    """The other direction: the catalog holds no page fact the checked-in list does not."""
    listed = {(r["provider"], r["platform"], r["model"]) for r in ROWS}
    for key, scope in load_catalog().scopes.items():
        provider, _, platform = key.partition("/")
        for model, life in scope.models.items():
            if life.source in {r["source"] for r in ROWS}:
                assert (provider, platform, model) in listed, (key, model)


def test_lint_reports_the_retired_ids_named_in_issue_18(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        today: Callable[[str], None]) -> None:
    today(PINNED)
    app = tmp_path / "app.py"
    app.write_text(
        'a = client.chat.completions.create(model="gpt-4-0314")\n'
        'b = client.chat.completions.create(model="gpt-3.5-turbo-0301")\n'
        'c = anthropic.completions.create(model="claude-instant-1.2")\n'
        'LEGACY = "text-davinci-003"\n'
        'WORD = "ada"  # a plain word is not a model ID unless given to a model key\n'
    )
    assert run(["lint", "--format", "json", "--output", str(tmp_path / "r.json"), str(app)]) == 1
    doc = json.loads((tmp_path / "r.json").read_text())
    found = {(f["location"].split(",")[0], f["rule"]) for f in doc["findings"]}
    assert found == {("line 1", "MG-P204"), ("line 2", "MG-P204"), ("line 3", "MG-P204"), ("line 4", "MG-P204")}
    messages = " ".join(f["message"] for f in doc["findings"])
    assert "gpt-4-0314 was retired on 2026-03-26" in messages
    assert "gpt-3.5-turbo-0301 was retired on 2024-09-13" in messages
    assert "claude-instant-1.2 was retired on 2024-11-06; replacement: claude-haiku-4-5-20251001" in messages
    capsys.readouterr()


def test_a_model_whose_page_gives_no_day_is_deprecated_with_the_date_unknown(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], today: Callable[[str], None]) -> None:
    today("2199-01-01")
    (tmp_path / "cfg.yaml").write_text("model: claude-mythos-preview\n")
    assert run(["lint", "--format", "json", "--output", str(tmp_path / "r.json"), str(tmp_path / "cfg.yaml")]) == 0
    [f] = json.loads((tmp_path / "r.json").read_text())["findings"]
    assert (f["rule"], f["severity"]) == ("MG-P203", "low")
    assert "retirement date not yet published" in f["message"]
    capsys.readouterr()
