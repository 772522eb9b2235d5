"""Recognising what is not the app: frameworks' error screens, the page's own errors, and the
dev servers' chrome that must stay out of the picture.

Error screens told apart by their own markup (each checked against the real framework where the
test bed has it, tests/frameworks): Vite's overlay (``vite-error-overlay``, in a shadow root; Astro
replaces it under the same name), Next.js's dev overlay dialog (``nextjs-portal``), the
webpack-dev-server/CRA overlay iframe, SvelteKit's error pages, Next.js's production client-error
page. A page left empty by an uncaught exception (React unmounts its root) is a runtime error too.
"""

from __future__ import annotations

from playwright.async_api import ConsoleMessage, Page
from playwright.async_api import Error as PlaywrightError

from lambda_fn.events import AppError

MAX_ERROR_TEXT = 2048
MAX_PAGE_ERRORS = 5
MAX_PAGE_ERROR_TEXT = 500

# Hidden while the PNG is taken (only when no error screen shows): dev servers' badges and
# toolbars animate, so one settled page would give different bytes from one capture to the next.
DEV_CHROME_STYLE = "nextjs-portal, astro-dev-toolbar { display: none !important; }"

ERROR_SCREEN = """
() => {
  const text = (node) => (node ? (node.innerText || node.textContent || "") : "").trim();
  const shown = (element) => {
    const box = element.getBoundingClientRect();
    return box.width > 0 && box.height > 0;
  };
  const vite = document.querySelector("vite-error-overlay");
  if (vite && vite.shadowRoot) {
    const root = vite.shadowRoot;
    const source = /astro/i.test(root.innerHTML.slice(0, 50000)) ? "astro" : "vite";
    const parts = [".plugin", ".message", ".file", ".frame"].map(
      (selector) => text(root.querySelector(selector)));
    return { kind: "build", source, text: parts.filter(Boolean).join("\\n") || text(root) };
  }
  for (const portal of document.querySelectorAll("nextjs-portal")) {
    const dialog = portal.shadowRoot && portal.shadowRoot.querySelector("[data-nextjs-dialog]");
    if (dialog && shown(dialog)) {
      const root = portal.shadowRoot;
      const label = text(root.querySelector("[data-nextjs-error-label-group]"));
      const build = /build error|failed to compile/i.test(label);
      const body = text(root.querySelector("#nextjs__container_errors_desc")) || text(dialog);
      return { kind: build ? "build" : "runtime", source: "next", text: label + "\\n" + body };
    }
  }
  for (const frame of document.querySelectorAll("iframe")) {
    if (!shown(frame)) continue;  // before its text: readiness runs this on every look
    let doc = null;
    try { doc = frame.contentDocument; } catch (error) { continue; }
    const body = doc && doc.body ? text(doc.body) : "";
    if (!body) continue;
    const overlay = frame.id === "webpack-dev-server-client-overlay";
    if (overlay || /^(Failed to compile|Compiled with problems)/.test(body)) {
      const runtime = /^Uncaught runtime errors/.test(body);
      return { kind: runtime ? "runtime" : "build", source: "webpack", text: body };
    }
  }
  const heading = document.querySelector("body h1, body h2");
  const crashed = /^(This page couldn.t load|Application error: a client-side exception)/;
  if (heading && crashed.test(text(heading))) {
    return { kind: "runtime", source: "next", text: text(document.body) };
  }
  const kit = document.querySelector("[data-sveltekit-preload-data], body > .error > .status");
  const status = document.querySelector("body > .error > .status, body h1");
  if (kit && status && /^[45]\\d\\d$/.test(text(status))
      && document.body.querySelectorAll("*").length < 20) {
    return { kind: "runtime", source: "sveltekit", text: text(document.body) };
  }
  return null;
}
"""


# Server and proxy answers that are not the app, whatever their status code (some proxies answer
# 200): Express's "Cannot GET /", a bare 5xx body or title, sandboxes' "port is not open" pages,
# Envoy's and similar proxies' one-liners. Only small pages: an app that mentions a bad gateway
# in its text is still the app. A JS function expression (what it says, or null), the blank
# judgement's negative evidence (dom.py).
FIND_SERVER_ERROR_PAGE = """
() => {
  const body = document.body;
  if (!body || body.getElementsByTagName("*").length > 40) return null;
  const text = (body.innerText || "").trim();
  if (text.length > 600) return null;
  const SAYS = [
    /^Cannot (GET|POST|PUT|DELETE|HEAD|PATCH) \\//,
    /^(\\d{3}\\s*[-:]?\\s*)?(Bad Gateway|Service Unavailable|Gateway Time-?out)\\b/i,
    /^(\\d{3}\\s*[-:]?\\s*)?(Internal Server Error|Not Found)\\b/i,
    /^[45]\\d\\d$/,
    /\\bport\\b.{0,40}\\bis not (open|running|listening|available)/i,
    /\\bno (service|server|process) (is )?(running|listening) on port\\b/i,
    /^(no healthy upstream|upstream connect error|upstream request timeout)/i,
    /\\b(connection refused|ECONNREFUSED)\\b/i,
  ];
  const title = (document.title || "").trim();
  for (const said of [text, title]) {
    if (said && SAYS.some((pattern) => pattern.test(said))) return said.slice(0, 200);
  }
  return null;
}
"""


class PageErrors:
    """The page's uncaught exceptions and console errors, the first few, each bounded."""

    def __init__(self, page: Page) -> None:
        self.messages: list[str] = []
        self.first_uncaught: str | None = None
        page.on("pageerror", self._uncaught)
        page.on("console", self._console)

    def _uncaught(self, error: PlaywrightError) -> None:
        text = f"uncaught: {error.message or error}"
        self.first_uncaught = self.first_uncaught or text
        self._add(text)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self._add(f"console: {message.text}")

    def _add(self, text: str) -> None:
        if len(self.messages) < MAX_PAGE_ERRORS:
            self.messages.append(text[:MAX_PAGE_ERROR_TEXT])


async def read_app_error(page: Page, errors: PageErrors, *, has_content: bool) -> AppError | None:
    """The error screen the page shows, if any; an empty page after an uncaught exception is
    the app's crash."""
    found = await page.evaluate(ERROR_SCREEN)
    if found is not None:
        return AppError(kind=found["kind"], source=found["source"], text=bounded(found["text"]))
    if errors.first_uncaught is not None and not has_content:
        return AppError(kind="runtime", source="uncaught", text=bounded(errors.first_uncaught))
    return None


def bounded(text: str) -> str:
    return text.strip()[:MAX_ERROR_TEXT]
