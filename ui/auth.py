"""Optional login for the UI (Gradio's own auth), and the warning when it is exposed without one.

RAG_UI_AUTH is either ``user:password`` or the path of a file with one ``user:password`` a line
(blank lines and lines starting with # are ignored), so passwords need not sit in the environment.
"""
from __future__ import annotations

import ipaddress
from pathlib import Path

from rag.cli import UserError


def parse_auth(value: str | None) -> list[tuple[str, str]] | None:
    """[(user, password), …] from RAG_UI_AUTH, or None when unset."""
    if not value or not value.strip():
        return None
    path = Path(value).expanduser()
    if ":" not in value or path.is_file():
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise UserError(f"RAG_UI_AUTH: cannot read {path} ({exc.strerror or exc}); "
                            "give user:password or a file of user:password lines") from None
        source = str(path)
    else:
        lines, source = [value], "RAG_UI_AUTH"
    pairs = [_pair(line, source) for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not pairs:
        raise UserError(f"{source}: no user:password entry")
    return pairs


def _pair(line: str, source: str) -> tuple[str, str]:
    user, sep, password = line.strip().partition(":")
    if not sep or not user or not password:
        raise UserError(f"{source}: expected user:password, got an entry without both parts")
    return user, password


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def exposure_warning(host: str, auth) -> str | None:
    """A warning when the UI listens beyond this machine with no login, else None."""
    if auth or is_loopback(host):
        return None
    return (f"warning: the UI listens on {host} without authentication: anyone who can reach this machine "
            "can ask questions and read the documents. Set RAG_UI_AUTH=user:password (or a file of such lines), "
            "or use --host 127.0.0.1.")


class EditPolicy:
    """Who may change the knowledge base from the UI and its API.

    Changing the documents changes every user's answers, so it is allowed only to someone
    identifiable or local: behind a login (RAG_UI_AUTH) any logged-in user; without a login only
    when the UI listens on loopback. RAG_UI_EDITING=false turns editing off altogether.
    """

    def __init__(self, enabled: bool = True, host: str = "127.0.0.1", auth: bool = False):
        self.enabled, self.host, self.auth = enabled, host, auth

    def refusal(self, username: str | None = None) -> str | None:
        """Why this user may not edit, or None when they may."""
        if not self.enabled:
            return "editing the knowledge base is turned off on this server (RAG_UI_EDITING=false)"
        if self.auth:
            return None if username else "log in to change the knowledge base"
        if not is_loopback(self.host):
            return (f"this UI listens on {self.host} without a login, so the knowledge base cannot be changed "
                    "from it; set RAG_UI_AUTH=user:password, or use `rag add` on the server")
        return None
