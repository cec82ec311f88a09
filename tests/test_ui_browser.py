"""The browser UI in a real Chromium: streamed cited answer, clickable marker, follow-up.

Uses the system Chromium (Debian package; `bash setup.sh --with-browser`), never a
browser downloaded by Playwright, and checks that the page fetches nothing off-machine.
"""
from __future__ import annotations

from urllib.parse import urlparse

import pytest

from tests.browser import MARKS, QUESTION, chinese_page

pytestmark = MARKS


@pytest.fixture(scope="module")
def page(ui_url):
    with chinese_page() as page:
        yield page


def _bot_messages(page):
    return page.locator('#chat [data-testid="bot"]')


def _ask(page, question: str, turn: int):
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")
    # the final answer has rendered when its sources are in the panel
    page.wait_for_selector(f"#sources #src-{turn}-1, #sources #ctx-{turn}-h1", state="attached", timeout=120_000)
    return _bot_messages(page).nth(turn)


def test_chat_streams_cited_answer_and_opens_the_source(page, ui_url, artifacts_dir):
    page.goto(ui_url, wait_until="domcontentloaded")
    page.wait_for_selector("#question textarea", timeout=60_000)
    assert page.get_by_text("绿策问答").first.is_visible()  # Chinese interface for a Chinese browser

    message = _ask(page, QUESTION, 0)
    assert "12.7%" in message.inner_text()
    marker = message.locator('a[href*="#src-0-1"]').first
    assert marker.is_visible() and marker.inner_text().strip() == "[1]"
    marker.click()
    source = page.locator("#sources #src-0-1")
    assert source.get_attribute("open") is not None
    highlighted = source.locator("mark.support")
    highlighted.wait_for(state="visible", timeout=10_000)
    assert "12.7%" in highlighted.inner_text()
    assert "active" in (source.get_attribute("class") or "")
    # the marker also opens the document view at the cited sentence; Escape closes it
    in_document = page.locator("#docview mark.support")
    in_document.wait_for(state="visible", timeout=30_000)
    assert "12.7%" in in_document.inner_text()
    # the long document is scrolled so that the sentence is inside the view's text box
    page.wait_for_function("""() => { const m = document.querySelector('#docview mark.support');
        const r = m.getBoundingClientRect(), b = document.getElementById('docview-body').getBoundingClientRect();
        return r.top >= b.top && r.bottom <= b.bottom; }""", timeout=10_000)
    page.screenshot(path=str(artifacts_dir / "ui-document-view.png"))
    page.keyboard.press("Escape")
    page.locator("#docview").wait_for(state="hidden", timeout=10_000)
    page.screenshot(path=str(artifacts_dir / "ui-answer.png"), full_page=True)

    follow = _ask(page, "那2025年呢？", 1)
    text = follow.inner_text()
    assert "12%" in text
    assert "12.7%" not in text.split("检索问题")[0], "the 2030 figure must not be presented as the 2025 answer"
    assert "甘肃省2025年" in text  # the rewritten question is shown
    page.screenshot(path=str(artifacts_dir / "ui-followup.png"), full_page=True)

    third = _ask(page, "它的水土保持率呢？", 2)  # the chain goes on from the resolved 2025 question
    text = third.inner_text()
    assert "61.34%" in text and "甘肃省2025年水土保持率" in text
    page.screenshot(path=str(artifacts_dir / "ui-followup-chain.png"), full_page=True)


def test_refusal_looks_different_and_offers_passages(page, artifacts_dir):
    message = _ask(page, "谁赢得了2018年世界杯？", 3)
    assert message.locator("blockquote").count() == 1  # set apart from answers
    assert "没有找到" in message.inner_text()
    assert page.locator("#sources details.closest").count() > 0
    page.screenshot(path=str(artifacts_dir / "ui-refusal.png"), full_page=True)


def test_a_refusal_says_why(page, artifacts_dir):
    """Asked in hectares for a rate: the refusal says what was asked and what the passage gives."""
    message = _ask(page, "甘肃省2030年森林覆盖率目标是多少公顷？", 4)
    text = message.inner_text()
    assert message.locator("blockquote").count() == 1 and "没有找到" in text
    assert "问的是面积" in text and "比例" in text
    page.screenshot(path=str(artifacts_dir / "ui-refusal-why.png"), full_page=True)


def test_too_long_question_is_shown_as_a_message(page):
    page.locator("#question textarea").fill("森林" * 300)
    page.locator("#question textarea").press("Enter")
    page.wait_for_function("() => document.querySelector('#chat').innerText.includes('出错了')", timeout=60_000)
    assert "Traceback" not in page.locator("#chat").inner_text()


def test_no_request_left_the_machine(page):
    hosts = {urlparse(u).hostname for u in page.requests_seen if urlparse(u).scheme in ("http", "https", "ws", "wss")}
    assert hosts and hosts <= {"127.0.0.1"}, hosts
