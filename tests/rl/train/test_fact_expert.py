"""The scripted strategies for fact questions (rl/train/fact_expert.py), on hand-written contexts."""

from __future__ import annotations

from asearcher.corpus.facts import BRIDGE_TEMPLATE, parse_fact_question
from asearcher.rl.train.fact_expert import fact_reply, fill_blank

Q = 'Complete this sentence from Wikipedia with the missing year: "The tower was completed in ___ for a fair."'
CLOZE = "The tower was completed in ___ for a fair."
HOPS = parse_fact_question(Q)
HITS = ("<information>\n[1] Eiffel Tower\nURL: https://w/Eiffel_Tower\nThe Eiffel Tower is a tower in Paris, "
        "built 1887 \u2026\n\n[2] Paris\nURL: https://w/Paris\nParis is the capital of France.\n</information>")
HITS_SHOWING = HITS.replace("built 1887 \u2026", "The tower was completed in 1889 for a fair.")
PAGE = ("<information>\nPage: Eiffel Tower\nURL: https://w/Eiffel_Tower\n(chunk 1 of 1; last chunk)\n\n"
        "The Eiffel Tower is a tower in Paris, built 1887. The tower was completed in 1889 for a fair.\n</information>")


def test_fill_blank_matches_context_words_across_punctuation():
    assert fill_blank(CLOZE, "The tower was built in 1889 for a fair.", "year") is None  # other words: not this sentence
    assert fill_blank(CLOZE, "... tower was completed in 1889 for a fair", "year") == "1889"  # 4 words either side suffice
    assert fill_blank(CLOZE, "The tower, was completed in: 1889, for a fair.", "year") == "1889"
    assert fill_blank("It is found in ___.", "It is found in South America, mostly.", "name") == "South America"
    assert fill_blank("Made by ___ and others.", "Made by Ada Lovelace and others.", "name") == "Ada Lovelace"
    assert fill_blank("___ X", "anything", "name") is None  # one context word is too little to trust


def test_weak_expert_answers_from_hit_one_or_reads_it_blindly():
    start = f"Question: {Q}\n"
    assert fact_reply(Q, HOPS, start, strong=False, read=False) == f"<search>The tower was completed in for a fair.</search>"
    # Without the coin: answer from hit 1's snippet, which does not show the sentence -> a guess (its first year).
    assert fact_reply(Q, HOPS, start + HITS, strong=False, read=False) == "<answer>1887</answer>"
    # With the coin: read hit 1 even when the snippet already shows the sentence.
    assert fact_reply(Q, HOPS, start + HITS_SHOWING, strong=False, read=True) == "<access>https://w/Eiffel_Tower</access>"
    assert fact_reply(Q, HOPS, start + HITS + PAGE, strong=False, read=True) == "<answer>1889</answer>"


def test_strong_expert_reads_only_when_no_snippet_shows_the_sentence():
    start = f"Question: {Q}\n"
    assert fact_reply(Q, HOPS, start + HITS_SHOWING, strong=True, read=False) == "<answer>1889</answer>"
    assert fact_reply(Q, HOPS, start + HITS, strong=True, read=False) == "<access>https://w/Eiffel_Tower</access>"
    other = PAGE.replace("1889", "1890").replace("Eiffel_Tower", "Paris").replace("completed in", "finished in")
    # Hit 1's page does not fill it either: read the next hit, then give up with a guess after MAX_READS pages.
    assert fact_reply(Q, HOPS, start + HITS + other.replace("Paris", "Eiffel_Tower", 1), strong=True,
                      read=False) == "<access>https://w/Paris</access>"
    assert fact_reply(Q, HOPS, start + HITS, strong=True, read=False, forced=True) == "1887</answer>"


BRIDGE = BRIDGE_TEMPLATE.format(a="The tower stands in ___, on the river.", b="It became a capital in ___ under a king.")


def test_two_hop_question_searches_the_bridge_name_with_the_second_sentence():
    hops = parse_fact_question(BRIDGE)
    assert hops == [("The tower stands in ___, on the river.", "name"),
                    ("It became a capital in ___ under a king.", "year")]
    start = f"Question: {BRIDGE}\n"
    first = ("<information>\n[1] Eiffel Tower\nURL: https://w/Eiffel_Tower\nThe tower stands in Paris, on the "
             "river.\n</information>")
    assert fact_reply(BRIDGE, hops, start, strong=True, read=False) == (
        "<search>The tower stands in , on the river.</search>")  # the blank removed, nothing else
    assert fact_reply(BRIDGE, hops, start + first, strong=True, read=False) == (
        "<search>Paris It became a capital in under a king.</search>")
    second = ("<information>\n[1] Paris\nURL: https://w/Paris\nParis is a city. \u2026\n</information>")
    # The second snippet does not show the sentence: the strong expert reads, the weak one guesses.
    assert fact_reply(BRIDGE, hops, start + first + second, strong=True, read=False) == "<access>https://w/Paris</access>"
    assert fact_reply(BRIDGE, hops, start + first + second, strong=False, read=False) == "<answer>unknown</answer>"
    page = ("<information>\nPage: Paris\nURL: https://w/Paris\n(chunk 1 of 1; last chunk)\n\nParis is a city. "
            "It became a capital in 1180 under a king.\n</information>")
    assert fact_reply(BRIDGE, hops, start + first + second + page, strong=True, read=False) == "<answer>1180</answer>"
