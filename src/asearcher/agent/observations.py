"""How tool results are laid out for the model: the selected prompt's observation style.

"native" (our packaged prompts): the tools' own text (`format_hits`, `format_chunk`), our page-part
stubs, and the reasoning history as whole blocks.

"asearcher" (prompts imported from an ASearcher checkout): the layout of ASearcher's agents, on which
its released checkpoints were trained, so that they read what they were trained to read. Derived from
its evaluation agents (agent/asearcher.py, agent/asearcher_reasoning.py; the training agents lay
results out the same way). D_N is hit N's document as ASearcher's search clients hand it over: from
a corpus, its `contents` (its title in quotes on the first line, then its text: what /retrieve
returns); from web search, its title, a space and its snippet:

  base agent  (frame: the prompt's obs_head / obs_tail, "<information>" ... "</information>")
    search        "[Doc 1](URL1):\\n" + D_1[:5000] + "\\n\\n" + "[Doc 2](URL2):\\n" + D_2[:5000] ...
    no hits       "No search results are found."
    page unread   "No More Information is Found for this URL."   (not found, empty, fetch failed)
    page part     its text; after its notes turn only its first 100 characters stay (in its frame)

  reasoning agent (each block carries its own <information> frame)
    read search   "\\n\\n<information>\\n" + "[Doc 1](URL1):\\n" + D_1 + "\\n\\n" ... + "\\n</information>\\n\\n"
    kept search   "\\n\\n<information>" + "[Doc 1](URL1):\\n" + D_1 + "..." + "\\n\\n" ... + "\\n</information>\\n\\n"
    read page     "\\n\\n<information>" + P + "\\n</information>\\n\\n"  with P = ">>>> Page k >>>>\\n\\n" + part
    kept page     "\\n\\n<information>\\n" + P[:100] + "...\\n\\n</information>\\n\\n"
    no hits       "\\n\\n<information>\\nNo Results Found.\\n</information>\\n\\n"
    page unread   "\\n\\n<information>\\nNo More Information is Found for this URL.\\n</information>\\n\\n"
    history       the question, then every block, glued; the last history_chars characters are shown

Failures ASearcher has no text for (an empty query, a search backend error) keep our wording.
"""

from __future__ import annotations

from typing import Any

from asearcher.api import Passage, Tool, ToolResult
from asearcher.tools.page_reader import PageReader

NATIVE, ASEARCHER = "native", "asearcher"
DOC_CHARS = 5000  # the base agent cuts each document's contents here
STUB_CHARS = 100  # characters of a page part kept after its notes (both agents)
NO_HITS_BASE = "No search results are found."
NO_HITS_REASONING = "No Results Found."
NO_PAGE = "No More Information is Found for this URL."


def page_part(tools: dict[str, Tool], url: str, result: ToolResult) -> str:
    """A page part's own text, without the access tool's header (which says how to read on); the
    tool's text when the part cannot be looked up."""
    reader = getattr(tools.get("access"), "reader", None)
    index = result.data.get("chunk_index")
    chunk = reader.chunk(url, index) if isinstance(reader, PageReader) and isinstance(index, int) else None
    return chunk.text if chunk is not None else result.text


def doc_blocks(hits: list[dict[str, Any]], cap: int = 0, suffix: str = "", web: bool = False) -> list[str]:
    """One "[Doc N](URL):" block per hit: its document (`web`: "title snippet", else the contents),
    cut to `cap` characters (0: whole), then `suffix`."""
    blocks = []
    for n, hit in enumerate(hits, 1):
        title, text = str(hit.get("title") or ""), str(hit.get("text") or "")
        doc = f"{title} {text}" if web else Passage(id="", title=title, text=text).contents
        blocks.append(f"[Doc {n}]({hit.get('url') or ''}):\n{doc[:cap] if cap else doc}{suffix}")
    return blocks


def _docs(result: ToolResult, cap: int = 0, suffix: str = "") -> str:
    """The blocks of a search result's hits, joined by a blank line."""
    web = result.data.get("source") == "web"
    return "\n\n".join(doc_blocks(result.data.get("hits") or [], cap, suffix, web))


def _no_hits(result: ToolResult) -> bool:
    """A search that ran and found nothing (not an empty query, not a backend failure)."""
    d = result.data
    return not result.ok and not d.get("hits") and bool(d.get("query")) and "error" not in d


def _no_page(result: ToolResult) -> bool:
    """An access whose page could not be read: not found, no text, or the fetch failed."""
    return not result.ok and bool(result.data.get("url")) and "error" in result.data


def base_text(style: str, action: str, result: ToolResult) -> str:
    """The body shown (inside the prompt's frame) for a search or access result in the append-only agent."""
    if style != ASEARCHER:
        return result.text
    if action == "search" and result.ok and result.data.get("hits"):
        return _docs(result, DOC_CHARS)
    if action == "search" and _no_hits(result):
        return NO_HITS_BASE
    if action == "access" and _no_page(result):
        return NO_PAGE
    return result.text


def part_stub(style: str, part: str, native: str) -> str:
    """What stays of a page part after its notes: its first 100 characters (asearcher), else `native`."""
    return part[:STUB_CHARS] if style == ASEARCHER else native


def information(text: str) -> str:
    """Our frame of a tool's text in the reasoning history (native style)."""
    return f"\n\n<information>\n{text.strip()}\n</information>\n\n"


def _page_block(result: ToolResult, part: str) -> str:
    return f">>>> Page {result.data.get('chunk_index', 0) + 1} >>>>\n\n{part}"


def reading_content(style: str, action: str, result: ToolResult, part: str) -> str:
    """The {content} of the reasoning agent's reading call on an ok result (`part`: the page part's text)."""
    if style != ASEARCHER:
        return result.text
    if action == "search":
        return f"\n\n<information>\n{_docs(result)}\n</information>\n\n"
    return f"\n\n<information>{_page_block(result, part)}\n</information>\n\n"


def history_block(style: str, action: str, result: ToolResult, part: str) -> str:
    """What the reasoning history keeps of a tool result (`part`: the page part's text, for an access)."""
    if style == ASEARCHER:
        if action == "search" and result.ok and result.data.get("hits"):
            return f"\n\n<information>{_docs(result, suffix='...')}\n</information>\n\n"
        if action == "search" and _no_hits(result):
            return information(NO_HITS_REASONING)
        if action == "access" and _no_page(result):
            return information(NO_PAGE)
        if action == "access" and result.ok and "chunk_index" in result.data:
            return f"\n\n<information>\n{_page_block(result, part)[:STUB_CHARS]}...\n\n</information>\n\n"
    if not result.ok or action == "search":
        return information(result.text)
    return information(str(result.data.get("stub") or result.text[:100] + "..."))
