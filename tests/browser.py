"""What every browser test shares: the system Chromium (Debian package, never a browser
downloaded by Playwright), its offline launch flags, and the marks that skip without it."""
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# without the background-networking flags Chromium keeps trying (and failing) to reach its services
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
QUESTION = "甘肃省2030年森林覆盖率目标是多少？"
MARKS = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (apt-get install chromium fonts-noto-cjk; "
                                                     "bash setup.sh --with-browser)"),
]


@contextmanager
def chinese_page():
    """A page of the system Chromium in a Chinese locale, recording every URL it requests
    (``page.requests_seen``), so a test can check that nothing left the machine."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        page = browser.new_page(locale="zh-CN", viewport={"width": 1400, "height": 1000})
        page.requests_seen = []
        page.on("request", lambda r: page.requests_seen.append(r.url))
        try:
            yield page
        finally:
            browser.close()
