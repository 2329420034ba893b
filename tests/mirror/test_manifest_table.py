"""The manifest's [mirror] table: parsed, validated (exit 2), and outside manifest-sha256."""

from __future__ import annotations

import pytest

from modelguard.errors import ConfigError, UsageError
from modelguard.mirror.source import settings
from modelguard.spec.manifest import parse_manifest

BASE = '[policy]\nallowed-orgs = ["acme"]\n\n[[hf-model]]\nname = "tiny"\nrepo = "acme/tiny"\n'


def test_mirror_table_is_parsed_and_does_not_change_manifest_sha256() -> None:
    plain = parse_manifest(BASE)
    mirrored = parse_manifest(BASE + '\n[mirror]\nurl = "oci://127.0.0.1:5000/models"\nplain-http = true\n'
                              'fallback = "none"\n')
    assert mirrored.mirror is not None
    assert (mirrored.mirror.url, mirrored.mirror.plain_http, mirrored.mirror.fallback) == (
        "oci://127.0.0.1:5000/models", True, "none")
    assert mirrored.sha256 == plain.sha256  # where bytes come from is not what they are
    assert parse_manifest(BASE + '[mirror]\nurl = "oci://r.example/m"\n').mirror.fallback == "hub"  # type: ignore[union-attr]


@pytest.mark.parametrize(("table", "message"), [
    ('[mirror]\nurl = "https://r/m"\n', "does not start with oci://"),
    ('[mirror]\nurl = "oci://r/m"\nfallback = "sometimes"\n', "is not one of"),
    ('[mirror]\nurl = "oci://r/m"\nplain_http = true\n', "unknown key"),
    ('[mirror]\nplain-http = true\n', "url"),
    ('[mirror]\nurl = "oci://r/m"\nplain-http = "yes"\n', "plain-http"),
])
def test_bad_mirror_tables_are_config_errors(table: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        parse_manifest(BASE + "\n" + table, source="modelguard.toml")
    assert "modelguard.toml:" in str(info.value) and info.value.exit_code == 2


def test_flags_override_the_table() -> None:
    spec = parse_manifest(BASE + '[mirror]\nurl = "oci://127.0.0.1:5000/m"\nplain-http = true\n').mirror
    chosen = settings(spec)
    assert chosen is not None and chosen.hub_fallback and chosen.location.plain_http
    other = settings(spec, "oci://r.example/m")
    assert other is not None and not other.location.plain_http  # plain-http belongs to the table's URL only
    assert settings(spec, no_hub=True).hub_fallback is False  # type: ignore[union-attr]
    assert settings(None) is None
    with pytest.raises(UsageError, match="--no-hub needs a mirror"):
        settings(None, no_hub=True)
