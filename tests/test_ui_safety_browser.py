"""The UI shows document and question markup as text, and its optional login works — in a real
Chromium against a real Gradio server over a tiny real index.

Any indexed document can hold HTML or markdown; an image in it would make every viewer's
browser fetch an outside URL. A small HTTP server on 127.0.0.1 stands in for that outside
host: the test fails if the page ever requests anything from it.
"""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.browser import ARGS, CHROMIUM, MARKS, QUESTION

pytestmark = MARKS


@pytest.fixture(scope="module")
def pixel_server():
    """The 'outside' host a document points at; records every request it gets."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/gif")
            self.end_headers()
            self.wfile.write(b"GIF89a")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], seen
    server.shutdown()


@pytest.fixture(scope="module")
def evil_service(tmp_path_factory, pixel_server):
    from rag.service import RagService
    from rag.settings import get_settings

    port, _ = pixel_server
    tmp = tmp_path_factory.mktemp("markup")
    corpus = tmp / "corpus"
    corpus.mkdir()
    (corpus / "evil.txt").write_text(
        f"一、主要目标\n到2030年底，甘肃省森林覆盖率<img src=//127.0.0.1:{port}/a>提高至![x](//127.0.0.1:{port}/md.png)12.7%，"
        f"森林蓄积量提高至3.3亿立方米<img src=http://127.0.0.1:{port}/x>![y](http://127.0.0.1:{port}/y.png)。\n"
        "二、其他\n广西地表水水质优良比例保持在95%以上<b>粗体</b>。", encoding="utf-8")
    settings = get_settings(corpus_dir=corpus, index_dir=tmp / "index", cache_dir=tmp / "cache")
    return RagService.open(settings, log=lambda msg: None)


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield chromium
        chromium.close()


def _ask(page, question: str, turn: int):
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")
    page.wait_for_selector(f"#sources #src-{turn}-1, #sources #ctx-{turn}-h1", state="attached", timeout=120_000)


def test_document_and_question_markup_is_shown_as_text(browser, evil_service, pixel_server):
    from ui.app import serve

    port, seen = pixel_server
    demo, url = serve(evil_service)
    try:
        page = browser.new_page(locale="zh-CN")
        page.goto(url, wait_until="domcontentloaded")
        page.wait_for_selector("#question textarea", timeout=60_000)
        _ask(page, QUESTION, 0)
        _ask(page, f"广西地表水水质优良比例是多少？<img src=http://127.0.0.1:{port}/q> ![q](http://127.0.0.1:{port}/q.png) "
                   "<b>粗</b>", 1)
        page.locator("#sources details").first.wait_for(state="attached")
        page.evaluate("document.querySelectorAll('#sources details').forEach(d => d.open = true)")
        page.wait_for_timeout(1500)  # any image would have been requested by now

        assert seen == [], f"the page fetched {seen} from the outside host"
        chat, sources = page.locator("#chat"), page.locator("#sources")
        assert chat.locator(f"img[src*='{port}']").count() == 0 and sources.locator(f"img[src*='{port}']").count() == 0
        assert chat.locator("b:has-text('粗')").count() == 0, "HTML from a question is not rendered"
        text = chat.inner_text() + sources.inner_text()
        assert f"<img src=http://127.0.0.1:{port}/q>" in text, "the question's markup is shown as typed"
        assert f"![y](http://127.0.0.1:{port}/y.png)" in sources.inner_text(), "the passage's markup is shown as text"
        assert chat.locator('a[href*="#src-0-1"]').count() >= 1, "our own markup (citation links) still renders"
    finally:
        demo.close()


def _login(page, user: str, password: str) -> None:
    page.locator("input[type=text]").first.fill(user)  # the form is cleared after a failed attempt
    page.locator("input[type=password]").fill(password)
    page.locator("button:has-text('Login')").first.click()


def test_login_is_required_when_auth_is_set(browser, evil_service):
    from gradio_client import Client

    from ui.app import serve

    demo, url = serve(evil_service, auth=[("alice", "s3cret-pw")])
    try:
        page = browser.new_page(locale="en-US")  # Gradio's own login page, in English
        page.goto(url, wait_until="domcontentloaded")
        page.wait_for_selector("input[type=password]", timeout=60_000)
        assert page.locator("#question textarea").count() == 0, "nothing of the app before login"
        _login(page, "alice", "wrong")
        page.get_by_text("Incorrect Credentials").wait_for(timeout=30_000)
        assert page.locator("#question textarea").count() == 0, "a wrong password does not log in"
        _login(page, "alice", "s3cret-pw")
        page.wait_for_selector("#question textarea", timeout=60_000)

        with pytest.raises(Exception):
            Client(url, verbose=False, download_files=False).predict(QUESTION, api_name="/ask")
        client = Client(url, auth=("alice", "s3cret-pw"), verbose=False, download_files=False)
        assert "12.7%" in str(client.predict(QUESTION, api_name="/ask"))
    finally:
        demo.close()
