"""Observation styles. The "asearcher" strings below were written by hand from ASearcher's agents
(agent/asearcher.py: search results and page parts of the base agent; agent/asearcher_reasoning.py:
the reasoning agent's reading content and history blocks), not produced by our code; "native" is the
tools' own text, unchanged."""

from asearcher.agent.history import History
from asearcher.agent.observations import base_text, doc_blocks, history_block, part_stub, reading_content
from asearcher.api import ToolResult

HITS = [
    {"id": "7", "title": "Louvre", "text": "The Louvre is a museum in Paris.", "url": "https://w/Louvre", "score": 2.0},
    {"id": "8", "title": "", "text": "An untitled passage.", "url": "https://w/x", "score": 1.0},
]
SEARCH = ToolResult("[1] Louvre\nURL: https://w/Louvre\n...", data={"query": "louvre", "hits": HITS})
NO_HITS = ToolResult("No results found for 'zzz'. Try different keywords.", ok=False, data={"query": "zzz", "hits": []})
EMPTY_QUERY = ToolResult("The search query is empty.", ok=False, data={"query": "", "hits": []})
DOWN = ToolResult("search server down", ok=False, data={"query": "q", "hits": [], "error": "search server down"})
NOT_FOUND = ToolResult("No page found at 'u'.", ok=False, data={"url": "u", "error": "No page found at 'u'."})
PART_TEXT = "P" * 60 + "Q" * 60
PART = ToolResult("Page: T\nURL: u\n(chunk 2 of 3; ...)\n\n" + PART_TEXT,
                  data={"url": "u", "chunk_index": 1, "num_chunks": 3, "stub": "[our stub]"})


def test_native_style_shows_the_tools_own_text():
    for r in (SEARCH, NO_HITS, NOT_FOUND, PART):
        assert base_text("native", "search" if "query" in r.data else "access", r) == r.text
    assert part_stub("native", PART_TEXT, "[our stub]") == "[our stub]"
    assert history_block("native", "search", SEARCH, "") == f"\n\n<information>\n{SEARCH.text}\n</information>\n\n"
    assert history_block("native", "access", PART, PART_TEXT) == "\n\n<information>\n[our stub]\n</information>\n\n"
    assert reading_content("native", "access", PART, PART_TEXT) == PART.text


def test_asearcher_base_agent_search_results():
    # "[Doc {k}]({url}):\n" + doc[:5000], joined by a blank line; doc = the contents (quoted title line).
    assert base_text("asearcher", "search", SEARCH) == (
        '[Doc 1](https://w/Louvre):\n"Louvre"\nThe Louvre is a museum in Paris.\n\n'
        "[Doc 2](https://w/x):\nAn untitled passage.")
    long = [{"title": "T", "text": "x" * 6000, "url": "u"}]
    assert doc_blocks(long, 5000) == ["[Doc 1](u):\n" + '"T"\n' + "x" * 4996]
    assert base_text("asearcher", "search", NO_HITS) == "No search results are found."
    assert base_text("asearcher", "access", NOT_FOUND) == "No More Information is Found for this URL."
    # Failures ASearcher has no wording for keep ours.
    assert base_text("asearcher", "search", EMPTY_QUERY) == EMPTY_QUERY.text
    assert base_text("asearcher", "search", DOWN) == DOWN.text


def test_asearcher_stub_keeps_the_first_100_characters_of_the_part():
    assert part_stub("asearcher", PART_TEXT, "[our stub]") == "P" * 60 + "Q" * 40
    assert part_stub("asearcher", "short", "[our stub]") == "short"


def test_asearcher_reasoning_reading_content_and_history_blocks():
    docs = '[Doc 1](https://w/Louvre):\n"Louvre"\nThe Louvre is a museum in Paris.'
    assert reading_content("asearcher", "search", SEARCH, "") == (
        "\n\n<information>\n" + docs + "\n\n[Doc 2](https://w/x):\nAn untitled passage.\n</information>\n\n")
    # Kept in the history: no newline after <information>, "..." after every document.
    assert history_block("asearcher", "search", SEARCH, "") == (
        "\n\n<information>" + docs + "...\n\n[Doc 2](https://w/x):\nAn untitled passage....\n</information>\n\n")
    page = ">>>> Page 2 >>>>\n\n" + PART_TEXT
    assert reading_content("asearcher", "access", PART, PART_TEXT) == "\n\n<information>" + page + "\n</information>\n\n"
    # The first 100 characters of header + part (18 + 82), then "...".
    assert history_block("asearcher", "access", PART, PART_TEXT) == (
        "\n\n<information>\n>>>> Page 2 >>>>\n\n" + "P" * 60 + "Q" * 22 + "...\n\n</information>\n\n")
    assert history_block("asearcher", "search", NO_HITS, "") == "\n\n<information>\nNo Results Found.\n</information>\n\n"
    assert history_block("asearcher", "access", NOT_FOUND, "") == (
        "\n\n<information>\nNo More Information is Found for this URL.\n</information>\n\n")


def test_asearcher_history_opens_with_the_question_and_keeps_a_character_tail():
    h = History(40, question_first="Where is it?")
    assert h.render() == "Where is it?"
    h.add(0, "act", "<think>a</think>\n\n<search>q</search>")
    h.add(0, "results", "\n\n<information>\nR\n</information>\n\n")
    whole = "Where is it?<think>a</think>\n\n<search>q</search>\n\n<information>\nR\n</information>\n\n"
    assert h.render() == whole[-40:]  # cut mid-entry, nothing stripped
    native = History(40)
    native.add(0, "act", "<think>a</think>\n\n<search>q</search>")
    assert native.render() == "<think>a</think>\n\n<search>q</search>"


def test_asearcher_web_hits_are_title_space_snippet():
    # ASearcher's web search client hands the agent title + " " + snippet as each document.
    web = ToolResult("...", data={"query": "louvre", "hits": HITS[:1], "source": "web"})
    assert base_text("asearcher", "search", web) == "[Doc 1](https://w/Louvre):\nLouvre The Louvre is a museum in Paris."
    assert reading_content("asearcher", "search", web, "") == (
        "\n\n<information>\n[Doc 1](https://w/Louvre):\nLouvre The Louvre is a museum in Paris.\n</information>\n\n")
