"""Staff write the letter and the about page in Markdown; visitors get sanitised HTML."""

import functools

import nh3
from markdown_it import MarkdownIt

# CommonMark without raw HTML: staff get headings, emphasis, lists, links and quotes, and nothing
# they type can become a script or a style (nh3 is the second lock on that door).
_parser = MarkdownIt("commonmark", {"html": False, "typographer": False})

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
