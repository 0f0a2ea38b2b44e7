"""Title matching rules of the link graph."""

from asearcher.corpus.links import TitleMatcher
from asearcher.corpus.urls import wikipedia_url

TITLES = ["Leonardo da Vinci", "Vinci", "Mona Lisa", "Fat", "Ant", "HIV", "Paris", "Mercury (planet)",
          "2001: A Space Odyssey", "Louvre"]


def _m():
    return TitleMatcher({t: wikipedia_url(t) for t in TITLES})


def test_longest_match_wins_and_no_overlap():
    assert _m().mentions("Painted by Leonardo da Vinci in Florence.") == ["Leonardo da Vinci"]


def test_case_sensitive_and_short_titles_skipped():
    text = "An ant ate fat near the Louvre. Fat is tasty. Ant colonies carry HIV research."
    # "Fat"/"Ant" only at sentence starts (ignored) or lower case; "HIV" is an all-caps acronym.
    assert _m().mentions(text) == ["Louvre", "HIV"]


def test_one_word_title_not_at_sentence_start():
    assert _m().mentions("Paris is big. The city of Paris.") == ["Paris"]
    assert _m().mentions("Paris is big.") == []


def test_disambiguated_and_punctuated_titles():
    m = _m()
    assert m.mentions("Kubrick made 2001: A Space Odyssey. The planet Mercury is small.") == [
        "2001: A Space Odyssey", "Mercury (planet)"]


def test_self_links_excluded_and_each_target_once():
    links = _m().links("Mona Lisa", "The Mona Lisa by Leonardo da Vinci, in the Louvre; the Louvre again.")
    assert links == [
        {"title": "Leonardo da Vinci", "url": "https://en.wikipedia.org/wiki/Leonardo_da_Vinci"},
        {"title": "Louvre", "url": "https://en.wikipedia.org/wiki/Louvre"},
    ]
