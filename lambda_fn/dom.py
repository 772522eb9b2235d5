"""Page facts read from the DOM after readiness: evidence for the blank judgement."""

from __future__ import annotations

from playwright.async_api import Page

from lambda_fn.blank import DomEvidence

MAX_TITLE = 256

# Bounded walks: a hostile page with a million elements must not eat the budget here.
EVIDENCE = """
() => {
  const body = document.body;
  const text = body ? body.innerText.trim().length : 0;
  let visible = 0;
  const elements = body ? body.getElementsByTagName("*") : [];
  for (let i = 0; i < elements.length && i < 5000; i++) {
    const r = elements[i].getBoundingClientRect();
    if (r.width > 0 && r.height > 0 && r.bottom > 0 && r.top < innerHeight) visible++;
  }
  const images = Array.from(document.images).slice(0, 1000);
  return { text_length: text, visible_elements: visible, images_total: images.length,
           images_loaded: images.filter((i) => i.complete && i.naturalWidth > 0).length };
}
"""


async def read_evidence(page: Page) -> DomEvidence:
    facts = await page.evaluate(EVIDENCE)
    return DomEvidence(**{key: int(value) for key, value in facts.items()})


async def read_title(page: Page) -> str:
    return (await page.title())[:MAX_TITLE]
