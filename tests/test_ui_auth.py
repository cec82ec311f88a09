"""RAG_UI_AUTH parsing and the warning for a UI exposed without a login (the login itself is
driven in a real browser in test_ui_safety_browser.py)."""
from __future__ import annotations

import pytest

from rag.cli import UserError
from rag.settings import get_settings
from ui.auth import exposure_warning, parse_auth


def test_auth_from_the_environment_as_a_pair(monkeypatch):
    monkeypatch.setenv("RAG_UI_AUTH", "alice:pa:ss")
    settings = get_settings()
    assert parse_auth(settings.ui_auth.get_secret_value()) == [("alice", "pa:ss")]
    assert "pa:ss" not in repr(settings)  # a secret: never printed with the settings


def test_auth_from_a_file(tmp_path):
    users = tmp_path / "users"
    users.write_text("# who may log in\nalice:one\n\nbob:two:three\n", encoding="utf-8")
    assert parse_auth(str(users)) == [("alice", "one"), ("bob", "two:three")]


@pytest.mark.parametrize("value", ["alice:", ":pw", "/no/such/file"])
def test_bad_auth_is_a_clear_error(value):
    with pytest.raises(UserError, match="user:password"):
        parse_auth(value)


def test_unset_auth_is_none():
    assert parse_auth(None) is None and parse_auth("  ") is None


@pytest.mark.parametrize("host,warned", [("127.0.0.1", False), ("localhost", False), ("::1", False),
                                         ("0.0.0.0", True), ("192.168.1.5", True), ("myhost.example", True)])
def test_warning_when_exposed_without_auth(host, warned):
    warning = exposure_warning(host, None)
    assert (warning is not None) == warned
    if warned:
        assert "RAG_UI_AUTH" in warning and host in warning
    assert exposure_warning(host, [("alice", "pw")]) is None
