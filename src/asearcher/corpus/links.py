"""The link graph: which other pages' titles each page mentions.

Matching is a token n-gram lookup (one dict probe per candidate start token), not a regex per
title, so it is linear in the corpus size. Rules, chosen so that a link means something:

- Titles match as whole word sequences, case-sensitively ("Fat" does not match "fat"); the
  punctuation between words is ignored ("2001: A Space Odyssey" matches "2001 A Space Odyssey").
- A trailing disambiguation "(...)" is dropped for matching ("Mercury (planet)" matches "Mercury")
  when that base form names exactly one page and is not itself a title.
- Titles shorter than 3 characters never match; 3-character one-word titles match only when
  all capitals (HIV, DNA), since "Ant"/"Fly"/"Fat" would link ordinary words.
- A one-word title does not match at the start of a sentence, where capitals say nothing.
- At each position the longest title wins and matches do not overlap ("Leonardo da Vinci"
  does not also link "Vinci"); a page never links to itself; each target is listed once, in
  order of first mention.
"""

from __future__ import annotations

import re
from collections import defaultdict

_WORD = re.compile(r"\w+")
_SENTENCE_END = re.compile(r"[.!?]")
_DISAMBIG = re.compile(r"^(.*\S)\s+\([^()]*\)$")
MAX_TITLE_WORDS = 12


def _sentence_starts(text: str) -> set[int]:
    """Indices (in `_WORD` tokens) of the first word of each sentence; [.!?] never occurs inside a token."""
    starts, count = set(), 0
    for segment in _SENTENCE_END.split(text):
        starts.add(count)
        count += len(_WORD.findall(segment))
    return starts


def _linkable(title: str, words: tuple[str, ...]) -> bool:
    if not words or len(words) > MAX_TITLE_WORDS or len(title) < 3:
        return False
    if len(words) == 1 and len(words[0]) <= 3 and not words[0].isupper():
        return False
    return True


class TitleMatcher:
    """Finds mentions of known page titles in text (see the module docstring for the rules)."""

    def __init__(self, titles: dict[str, str]):
        """`titles` maps each page title to its URL."""
        self._by_words: dict[tuple[str, ...], str] = {}
        # first word -> the word counts of titles starting with it, longest first
        self._lengths: dict[str, list[int]] = defaultdict(list)
        bases: dict[tuple[str, ...], list[str]] = defaultdict(list)
        for title in titles:
            m = _DISAMBIG.match(title)
            if m:
                bases[tuple(_WORD.findall(m.group(1)))].append(title)
            words = tuple(_WORD.findall(title))
            if _linkable(title, words):
                self._by_words.setdefault(words, title)
        for words, owners in bases.items():
            if len(owners) == 1 and words not in self._by_words and _linkable(" ".join(words), words):
                self._by_words[words] = owners[0]
        for words in self._by_words:
            self._lengths[words[0]].append(len(words))
        for lengths in self._lengths.values():
            lengths.sort(reverse=True)
        self._urls = titles

    def mentions(self, text: str, *, exclude: str = "") -> list[str]:
        """Titles mentioned in `text`, in order of first mention, without `exclude` (the page itself)."""
        tokens = _WORD.findall(text)
        lengths = self._lengths
        # Only positions whose word starts some title are probed (most words start none).
        candidates = [i for i, t in enumerate(tokens) if t in lengths]
        found: dict[str, None] = {}
        sentence_starts: set[int] | None = None
        next_free = 0
        for i in candidates:
            if i < next_free:  # inside a longer match already taken
                continue
            for n in lengths[tokens[i]]:
                title = self._by_words.get(tuple(tokens[i : i + n]))
                if title is None:
                    continue
                if n == 1:
                    if sentence_starts is None:
                        sentence_starts = _sentence_starts(text)
                    if i in sentence_starts:
                        continue
                if title != exclude:
                    found.setdefault(title, None)
                next_free = i + n
                break
        return list(found)

    def links(self, title: str, text: str) -> list[dict[str, str]]:
        """The link records of one page: [{"title", "url"}, ...] for each mentioned page."""
        return [{"title": t, "url": self._urls[t]} for t in self.mentions(text, exclude=title)]
