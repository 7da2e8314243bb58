"""What authors type, made safe to show: Markdown to sanitised HTML, titles to slugs.

The HTML is made once, when an entry is saved: markdown-it-py renders CommonMark (raw HTML
allowed, plus tables and strikethrough; headings from h2, below the title), then nh3 keeps
only a safe subset of it (no scripts, event handlers, styles or frames; links only to http,
https, mailto and this site). Pages print it as it is stored: the only text they do not escape.
"""

import re
import unicodedata

import nh3
from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore

MAX_MARKDOWN = 100_000  # characters an entry's Markdown may hold
SLUG_LENGTH = 80  # characters of the title a slug keeps

_markdown = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def _headings_below_the_title(state: StateCore) -> None:
    # The entry's title is the page's heading: its text's "# Heading" is one level below.
    for token in state.tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(int(token.tag[1]) + 1, 6)}"


_markdown.core.ruler.push("headings_below_the_title", _headings_below_the_title)
# Characters XML 1.0 forbids (the Atom feed is XML): controls other than tab and line breaks,
# lone surrogates, U+FFFE and U+FFFF.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def to_html(markdown: str) -> str:
    """The entry's Markdown as HTML that is safe to show as it is."""
    return nh3.clean(
        _markdown.render(markdown),
        url_schemes={"http", "https", "mailto"},  # relative links (this site) stay too
        link_rel="nofollow noopener noreferrer",  # authors' links vouch for nothing
    )


def slugify(title: str) -> str:
    """The title as a readable URL part, in any script: its letters, marks and digits,
    lowercased, with one hyphen for each run of anything else ("Привет, мир!" gives
    "привет-мир"); "entry" when nothing is left."""
    words, word = [], []
    for char in unicodedata.normalize("NFKC", title).casefold():
        if unicodedata.category(char)[0] in "LMN":  # letters, combining marks, digits
            word.append(char)
        elif word:
            words.append("".join(word))
            word = []
    words.append("".join(word))
    return "-".join(w for w in words if w)[:SLUG_LENGTH].strip("-") or "entry"


def one_line(text: str) -> str:
    """A title as one line: each run of spaces, tabs and line breaks becomes one space."""
    return " ".join(text.split())


def xml_text(text: str) -> str:
    """``text`` without the characters an XML document may not hold."""
    return _NOT_XML.sub("", text)
