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
