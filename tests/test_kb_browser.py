"""The Documents tab in a real Chromium against a real Gradio server and a real index: upload a
.docx and a .pdf made here, watch the progress finish, get a cited answer only they can give,
read the citation in its document, remove the document and be refused; wrong or oversized
uploads are refused with a message and change nothing."""
from __future__ import annotations

import pytest

from tests.browser import MARKS, chinese_page

pytestmark = MARKS

DOCX_LINES = ["海南省珊瑚礁保护方案", "一、主要目标", "到2030年，海南省珊瑚礁保护面积达到2.6万公顷，修复退化珊瑚礁300公顷。",
              "二、保障措施", "建立珊瑚礁生态监测网络，每年开展一次全省珊瑚礁健康评估。"]
DOCX_QUESTION = "海南省2030年珊瑚礁保护面积目标是多少？"
PDF_HTML = ("<html><head><meta charset='utf-8'></head><body style=\"font-family:'Noto Sans CJK SC'\">"
            "<h1>三亚市海洋生态保护规划</h1><p>一、总体目标</p>"
            "<p>到2028年，三亚市新建海洋牧场5处，海草床修复面积达到150公顷。</p></body></html>")
PDF_QUESTION = "三亚市2028年海草床修复面积目标是多少？"


@pytest.fixture(scope="module")
def kb_url(tmp_path_factory, settings):
    """A server over the bundled corpus with its own index and user folder (this test changes them)."""
    from rag.service import RagService
    from ui.app import serve

    tmp = tmp_path_factory.mktemp("kb-ui")
    kb_settings = settings.model_copy(update={"index_dir": tmp / "index", "user_corpus_dir": tmp / "mine",
                                              "max_upload_mb": 1.0})
    service = RagService.open(kb_settings, log=lambda m: None)
    demo, url = serve(service)
    yield url, kb_settings
    demo.close()


@pytest.fixture(scope="module")
def page(kb_url):
    with chinese_page() as page:
        page.goto(kb_url[0], wait_until="domcontentloaded")
        page.wait_for_selector("#question textarea", timeout=60_000)
        yield page


@pytest.fixture(scope="module")
def files(page, tmp_path_factory):
    """A .docx written by python-docx and a .pdf printed by Chromium (CJK text layer, Noto fonts)."""
    import docx

    folder = tmp_path_factory.mktemp("uploads")
    d = docx.Document()
    d.add_heading(DOCX_LINES[0], level=1)
    for line in DOCX_LINES[1:]:
        d.add_paragraph(line)
    d.save(folder / "海南珊瑚礁.docx")
    printer = page.context.browser.new_page()
    printer.set_content(PDF_HTML)
    printer.pdf(path=str(folder / "三亚海洋.pdf"))
    printer.close()
    return folder


def _tab(page, name: str):
    page.get_by_role("tab", name=name).click()


def _upload(page, paths):
    _tab(page, "文档")
    page.locator("#kb-files input[type=file]").set_input_files([str(p) for p in paths])
    page.wait_for_function("() => document.querySelectorAll('#kb-files .file-preview, #kb-files table tr').length > 0",
                           timeout=30_000)
    page.locator("#kb-add").click()


def _status(page, state: str, timeout: float = 300_000, artifacts=None):
    try:
        page.wait_for_selector(f"#kb-status [data-state={state}]", timeout=timeout)
    except Exception:
        if artifacts:
            page.screenshot(path=str(artifacts / f"kb-timeout-{state}.png"), full_page=True)
        raise
    return page.locator("#kb-status").inner_text()


def _ask(page, question: str, turn: int):
    _tab(page, "问答")
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")
    page.wait_for_selector(f"#sources #src-{turn}-1, #sources #ctx-{turn}-h1", state="attached", timeout=120_000)
    return page.locator('#chat [data-testid="bot"]').nth(turn)


def test_wrong_content_and_oversized_uploads_change_nothing(page, kb_url, tmp_path, artifacts_dir):
    fake = tmp_path / "报告.pdf"
    fake.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    big = tmp_path / "大文件.txt"
    big.write_text("森林覆盖率" * 80_000, encoding="utf-8")  # 1.2 MB, over the 1 MB limit of this server
    _upload(page, [fake, big])
    text = _status(page, "error", 60_000)
    assert "Nothing was changed" in text
    assert "报告.pdf: the name says a PDF document but the content is a PNG image" in text
    assert "大文件.txt: 1.2 MB is over the 1.0 MB limit" in text
    page.screenshot(path=str(artifacts_dir / "kb-refused.png"), full_page=True)
    user_dir = kb_url[1].user_corpus_dir
    assert not user_dir.exists() or not [p for p in user_dir.iterdir() if not p.name.startswith(".")]
    assert page.locator("#kb-table tbody tr").count() == 5


def test_upload_ask_read_in_document_remove(page, files, artifacts_dir):
    _upload(page, [files / "海南珊瑚礁.docx", files / "三亚海洋.pdf"])
    text = _status(page, "done", artifacts=artifacts_dir)
    assert "2 added/changed" in text
    table = page.locator("#kb-table")
    table.locator("tr", has_text="海南珊瑚礁.docx").wait_for(timeout=30_000)
    assert table.locator("tr", has_text="三亚海洋.pdf").count() == 1
    page.screenshot(path=str(artifacts_dir / "kb-documents.png"), full_page=True)

    answer = _ask(page, DOCX_QUESTION, 0)
    assert "2.6万公顷" in answer.inner_text()
    assert page.locator("#sources #src-0-1").get_attribute("data-doc") == "海南珊瑚礁.docx"
    assert "150公顷" in _ask(page, PDF_QUESTION, 1).inner_text()  # the PDF's Chinese text layer was read

    # a citation opens the document view at the supporting sentence
    _ask(page, DOCX_QUESTION, 2).locator('a[href*="#src-2-1"]').first.click()
    mark = page.locator("#docview mark.support")
    mark.wait_for(state="visible", timeout=30_000)
    assert "2.6万公顷" in mark.inner_text()
    assert "一、主要目标" in page.locator("#docview .dv-breadcrumb").inner_text()
    assert mark.evaluate("m => { const r = m.getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight; }")
    page.screenshot(path=str(artifacts_dir / "kb-document-view.png"))

    # asked from the view, the question searches that document only
    page.locator("#docview-question textarea").fill("每年开展几次健康评估？")
    page.locator("#docview-ask").click()
    page.wait_for_selector("#sources #src-3-1, #sources #ctx-3-h1", state="attached", timeout=120_000)
    assert page.locator("#docview").is_hidden()
    assert "海南珊瑚礁.docx" == page.locator("#sources .turn.latest details.src").first.get_attribute("data-doc")

    _tab(page, "文档")
    page.get_by_text("删除文档", exact=True).click()  # open the accordion
    page.locator("#kb-remove-choice input").click()
    page.get_by_role("option", name="海南省珊瑚礁保护方案 (海南珊瑚礁.docx)").click()
    page.keyboard.press("Escape")
    page.locator("#kb-remove").click()
    _status(page, "done")
    page.locator("#kb-table tr", has_text="海南珊瑚礁.docx").wait_for(state="detached", timeout=30_000)
    refused = _ask(page, DOCX_QUESTION, 4)
    assert refused.locator("blockquote").count() == 1 and "2.6万公顷" not in refused.inner_text()


def test_nothing_left_the_machine(page):
    from urllib.parse import urlparse

    hosts = {urlparse(u).hostname for u in page.requests_seen if urlparse(u).scheme in ("http", "https", "ws", "wss")}
    assert hosts and hosts <= {"127.0.0.1"}, hosts
