"""Page facts read from the DOM after readiness: evidence for the blank judgement."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page

from lambda_fn.capture.readiness import FIND_LOADING_INDICATOR
from lambda_fn.capture.screens import FIND_SERVER_ERROR_PAGE
from lambda_fn.pictures.blank import DomEvidence

MAX_TITLE = 256
MAX_EVIDENCE_TEXT = 200
COUNTS = (
    "text_length",
    "visible_elements",
    "images_loaded",
    "images_total",
    "controls",
    "painted_boxes",
    "graphics",
    "endless_animations",
)

# Bounded walks: a hostile page with a million elements must not eat the budget here. A box is
# painted when its background, border or shadow shows against the page's background; an SVG drew
# something when one of its shapes has an extent; a canvas when a scaled-down copy of it has an
# opaque pixel (a canvas that cannot be read, tainted by a cross-origin image, drew that image).
EVIDENCE = (
    """
() => {
  const LIMIT = 5000;
  const findIndicator = """
    + FIND_LOADING_INDICATOR
    + """;
  const findServerError = """
    + FIND_SERVER_ERROR_PAGE
    + """;
  const body = document.body;
  const shown = (box) => box.width > 0 && box.height > 0 && box.bottom > 0 && box.top < innerHeight;
  const clear = (colour) => !colour || colour === "transparent" || /, 0\\)$/.test(colour);
  const page = body ? getComputedStyle(body).backgroundColor : "";
  const paints = (style) => {
    const fill = style.backgroundColor;
    if (!clear(fill) && fill !== page) return true;
    if (style.backgroundImage !== "none" || style.boxShadow !== "none") return true;
    return ["Top", "Right", "Bottom", "Left"].some((side) =>
      parseFloat(style["border" + side + "Width"]) > 0
      && style["border" + side + "Style"] !== "none"
      && !clear(style["border" + side + "Color"]));
  };
  const CONTROL = "button, input:not([type=hidden]), select, textarea, a[href], summary, "
    + "[role=button], [role=tab], [role=checkbox], [role=switch], [role=slider], "
    + "[role=link], [contenteditable=true]";
  const SHAPE = "path, rect, circle, ellipse, line, polyline, polygon, text, image, use";
  const drewSvg = (svg) => [...svg.querySelectorAll(SHAPE)].slice(0, 200).some((shape) => {
    try { const b = shape.getBBox(); return b.width > 0 || b.height > 0; } catch (e) {
      return false; }
  });
  const drewCanvas = (canvas) => {
    if (!canvas.width || !canvas.height) return false;
    const copy = document.createElement("canvas");
    copy.width = copy.height = 16;
    const context = copy.getContext("2d");
    try {
      context.drawImage(canvas, 0, 0, 16, 16);
      const alpha = context.getImageData(0, 0, 16, 16).data;
      for (let i = 3; i < alpha.length; i += 4) if (alpha[i]) return true;
      return false;
    } catch (error) { return true; }
  };
  let visible = 0, controls = 0, painted = 0, graphics = 0, endless = 0;
  const elements = body ? body.getElementsByTagName("*") : [];
  for (let i = 0; i < elements.length && i < LIMIT; i++) {
    const element = elements[i], box = element.getBoundingClientRect();
    if (!shown(box)) continue;
    visible++;
    const style = getComputedStyle(element);
    if (style.visibility === "hidden" || style.opacity === "0") continue;
    if (element.matches(CONTROL)) controls++;
    if (box.width * box.height >= 16 && paints(style)) painted++;
    const name = element.localName;
    if ((name === "svg" && drewSvg(element)) || (name === "canvas" && drewCanvas(element))) {
      graphics++;
    }
    if (element.getAnimations().some(
      (animation) => animation.effect.getComputedTiming().iterations === Infinity)) endless++;
  }
  const root = document.querySelector("#root, #app, #__next, #__nuxt, #svelte, [data-reactroot]");
  const images = Array.from(document.images).slice(0, 1000);
  return { text_length: body ? body.innerText.trim().length : 0, visible_elements: visible,
           images_total: images.length,
           images_loaded: images.filter((i) => i.complete && i.naturalWidth > 0).length,
           controls, painted_boxes: painted, graphics, endless_animations: endless,
           loading_indicator: findIndicator(), server_error: findServerError(),
           empty_root: !!root && !root.firstElementChild && !root.textContent.trim() };
}
"""
)


async def read_evidence(page: Page) -> DomEvidence:
    facts: dict[str, Any] = await page.evaluate(EVIDENCE)
    return DomEvidence(
        **{key: int(facts[key]) for key in COUNTS},
        loading_indicator=_bounded(facts["loading_indicator"]),
        server_error=_bounded(facts["server_error"]),
        empty_root=bool(facts["empty_root"]),
    )


def _bounded(text: object) -> str | None:
    return str(text)[:MAX_EVIDENCE_TEXT] if text else None


async def read_title(page: Page) -> str:
    return (await page.title())[:MAX_TITLE]
