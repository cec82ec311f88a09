"""What every browser test shares: the system Chromium (Debian package, never a browser
downloaded by Playwright), its offline launch flags, and the marks that skip without it."""
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
