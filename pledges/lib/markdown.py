"""Staff write the letter, the about page and updates to signers in Markdown; readers get
sanitised HTML."""

import functools

import nh3
from markdown_it import MarkdownIt

# CommonMark: staff get headings, emphasis, lists, links and quotes. Raw HTML goes through to nh3,
# which keeps only the tags below and drops <script> and <style> with their content, so nothing
# they type can become a script or a style, nor show up as stray markup.
_parser = MarkdownIt("commonmark", {"html": True, "typographer": False})

ALLOWED_TAGS = {
    "h2",
    "h3",
    "h4",
    "p",
    "em",
    "strong",
    "ul",
    "ol",
    "li",
    "a",
    "blockquote",
    "br",
    "hr",
    "code",
    "pre",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}


def _shift_headings(tokens) -> None:
    # The page's title is the one <h1>: a "# Heading" in the text becomes an <h2>; below <h4>, <h4>.
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{max(2, min(int(token.tag[1]), 4))}"


@functools.lru_cache(maxsize=32)
def render_markdown(text: str) -> str:
    """Safe HTML for `text`. Cached by the text itself: a letter version never changes once made,
    so the letter page renders each version once per process, however many people load it."""
    tokens = _parser.parse(text)
    _shift_headings(tokens)
    html = _parser.renderer.render(tokens, _parser.options, {})
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
    )
