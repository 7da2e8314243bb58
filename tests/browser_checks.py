"""Pages judged in a real browser: headless Chromium (Debian's `chromium`) through Playwright.

`look_at` loads a page at a desktop and a phone size and returns what a person (or a screen
reader) would trip over: horizontal overflow, console errors, Content-Security-Policy
violations, and axe-core's serious or critical accessibility violations. axe-core is the npm
package pinned in tests/axe_core/, installed once per lock file with ``npm ci`` into a cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from checks import require, run

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tornado-scaffold-tests"
AXE_FIXTURE = Path(__file__).parent / "axe_core"

# The two sizes every page must fit: a laptop, and a phone (iPhone 12-15 CSS pixels).
SIZES = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
}

# Runs in every page before its own scripts: records CSP violations the page reports.
RECORD_CSP = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI}`);
});
"""


def npm_install(fixture: Path, files: tuple[str, ...]) -> Path:
    """The npm packages of ``fixture``, installed by ``npm ci`` once per set of ``files``."""
    npm = shutil.which("npm")
    require(npm is not None, f"needs npm to install {fixture.name}")
    digest = hashlib.sha256(b"".join((fixture / name).read_bytes() for name in files))
    target = CACHE / f"{fixture.name}-{digest.hexdigest()[:16]}"
    if (target / "node_modules").is_dir():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="installing-", dir=CACHE))
    for name in files:
        shutil.copy2(fixture / name, scratch / name)
    done = run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"], scratch, timeout=300)
    if done.returncode != 0:
        shutil.rmtree(scratch, ignore_errors=True)
        require(False, f"npm ci could not install {fixture.name}: {done.stderr.strip()[-500:]}")
    try:
        scratch.rename(target)  # in one step: a parallel worker sees all of it or nothing
    except OSError:  # another worker was first
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def axe_source() -> str:
    folder = npm_install(AXE_FIXTURE, ("package.json", "package-lock.json"))
    return (folder / "node_modules" / "axe-core" / "axe.min.js").read_text()


@contextlib.contextmanager
def chromium() -> Iterator[object]:
    """A headless Chromium; the calling test skips (CI: fails) when it or Playwright is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    require(sync_playwright is not None, "needs playwright: pip install -e '.[test]'")
    require(Path(CHROMIUM).is_file(), f"needs Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Watched:
    """A page with its console errors and uncaught exceptions recorded as they happen."""

    page: object
    width: int  # the viewport's width in CSS pixels, as the context was made
    errors: list[str] = field(default_factory=list)

    def on_console(self, message) -> None:
        # Chromium logs an error page's own status (404, 503) as a failed load: that is the
        # page working as meant, not a problem on it.
        if message.type != "error":
            return
        own = message.location.get("url") == self.page.url
        if not (own and message.text.startswith("Failed to load resource")):
            self.errors.append(message.text)

    def csp_violations(self) -> list[str]:
        return self.page.evaluate("window.__cspViolations || []")


def open_page(context) -> Watched:
    page = context.new_page()
    watched = Watched(page, page.viewport_size["width"])
    page.on("console", watched.on_console)
    page.on("pageerror", lambda error: watched.errors.append(f"uncaught: {error}"))
    return watched


def new_context(browser, size: str, cookies: list[dict] | None = None):
    context = browser.new_context(**SIZES[size])
    context.add_init_script(RECORD_CSP)
    if cookies:
        context.add_cookies(cookies)
    return context


def overflow(page, width: int) -> str | None:
    """How the page overflows sideways, or None when it fits a viewport ``width`` px wide.

    On a phone, a page wider than the screen also widens the layout viewport (the browser
    zooms out): innerWidth grows with it, so the page is held to the screen's width too.
    """
    inner, scroll = page.evaluate("[innerWidth, document.scrollingElement.scrollWidth]")
    if scroll <= min(inner, width):
        return None
    return f"{scroll} px wide (innerWidth {inner}) on a {width} px screen"


def serious_axe_violations(page, axe: str) -> list[str]:
    """axe-core's violations of impact serious or critical, one line each.

    axe is evaluated through the DevTools protocol, which the page's CSP does not govern (a
    <script> tag would be refused, rightly, by ``script-src 'self'``).
    """
    page.evaluate(axe)
    results = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{rule['id']} ({rule['impact']}): {rule['help']}: "
        + "; ".join(node["target"][0] if node["target"] else "?" for node in rule["nodes"][:5])
        for rule in results["violations"]
        if rule["impact"] in ("serious", "critical")
    ]


def problems(watched: Watched, axe: str | None) -> list[str]:
    """Everything wrong with the loaded page, as readable lines; empty when it is fine."""
    page = watched.page
    found = [f"console: {text}" for text in watched.errors]
    found += [f"CSP: {text}" for text in watched.csp_violations()]
    wide = overflow(page, watched.width)
    if wide:
        found.append(f"overflow: {wide} ({widest(page)})")
    if axe is not None:
        found += [f"axe: {line}" for line in serious_axe_violations(page, axe)]
    return found


def widest(page) -> str:
    """The element reaching furthest right, to say what makes a page too wide."""
    return page.evaluate(
        """() => {
          let best = null, right = 0;
          for (const el of document.body.querySelectorAll('*')) {
            const r = el.getBoundingClientRect().right;
            if (r > right) { right = r; best = el; }
          }
          return best ? `${best.tagName.toLowerCase()}.${best.className} ends at ${right} px` : '';
        }"""
    )


def look_at(browser, url: str, size: str, axe: str | None, cookies=None, ready=None) -> list[str]:
    """Load ``url`` in a fresh context at ``size``; return its problems (see `problems`).

    ``ready``: a function of the page that waits (with Playwright's expect) until the page's
    scripts have done their first work, e.g. the chat connected.
    """
    context = new_context(browser, size, cookies)
    try:
        watched = open_page(context)
        watched.page.goto(url)
        if ready is not None:
            ready(watched.page)
        return problems(watched, axe)
    finally:
        context.close()
