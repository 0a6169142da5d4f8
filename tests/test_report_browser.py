"""report.html in a real headless browser (Debian's chromium driven by Playwright, never a
downloaded browser): it loads with no network request, every contents link lands on its
section, and a screenshot of the first screen is kept as a test artefact."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_export import report  # noqa: F401  (the fixture: one team's pack)

CHROMIUM = Path("/usr/bin/chromium")
ARTEFACTS = Path(__file__).resolve().parents[1] / "var" / "test-artefacts"

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed "
                               "(make install adds it with the dev extras)")


@pytest.fixture
def page():
    if not CHROMIUM.exists():
        pytest.skip(f"no browser at {CHROMIUM}: .ci/run installs Debian's chromium "
                    "(apt-get install -y chromium); it could not here")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                     args=["--no-sandbox"])  # CI runs as root
        try:
            yield browser.new_page(viewport={"width": 1280, "height": 800})
        finally:
            browser.close()


def test_report_loads_offline_and_every_contents_link_lands(report, tmp_path, page):  # noqa: F811
    path = tmp_path / "pack" / "report.html"
    outside = []

    def block(route):
        # Every request that is not the file itself or an inline data: URI: counted, refused.
        if route.request.url.startswith(("file://", "data:")):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", block)
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(path.as_uri(), wait_until="load")
    assert outside == []
    assert all(u.startswith(("file://", "data:")) for u in requested), requested
    assert page.evaluate("document.images[0].complete && document.images[0].naturalWidth") > 0

    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTEFACTS / "report-first-screen.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 0

    links = page.locator("nav#contents a")
    targets = links.evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert {"#escalations", "#incidents", "#medicines", "#actions", "#reconciliations",
            "#contacts"} <= set(targets)
    for i, href in enumerate(targets):
        page.evaluate("window.scrollTo(0, 0)")
        links.nth(i).click()
        page.wait_for_function("h => location.hash === h", arg=href)
        target = page.locator(href)
        assert target.count() == 1, href
        box = page.evaluate("""id => { const r = document.getElementById(id)
                                          .getBoundingClientRect();
                                       return [r.top, r.bottom, innerHeight]; }""", href[1:])
        top, bottom, height = box
        assert bottom > 0 and top < height, f"{href} is not on screen after its link: {box}"
    assert outside == []
