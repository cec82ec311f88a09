"""The fixed rule that splits an evaluation set into ``dev`` (tune on it) and ``test``
(never tuned on; only its totals are looked at while the answerer changes).

The rule depends on the item id alone, so adding items never moves old ones between splits.
"""
from __future__ import annotations

import hashlib


def split_of(item_id: str, test_share: float = 0.5) -> str:
    """'test' or 'dev' from the SHA-1 of the id: stable, unbiased, and not chosen by hand."""
    h = int(hashlib.sha1(item_id.encode("utf-8")).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if h < test_share else "dev"


CONVERSATION_TEST_SHARE = 1 / 3  # about a third of the conversations are held out
