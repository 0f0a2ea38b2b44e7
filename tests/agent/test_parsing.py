from asearcher.agent.parsing import hidden_thinking, parse_output, strip_hidden_thinking


def test_search_with_think_is_valid():
    p = parse_output("<think>need the painter</think>\n<search> Mona Lisa painter </search>")
    assert (p.action, p.argument, p.think, p.format_ok, p.error) == ("search", "Mona Lisa painter", "need the painter", True, "")


def test_last_tag_of_a_kind_wins():
    p = parse_output("<search>first</search> then <search>second</search>")
    assert p.action == "search" and p.argument == "second" and p.format_ok


def test_two_different_actions_make_an_invalid_turn():
    p = parse_output("<search>q</search><answer>Paris</answer>")
    assert p.action == "none" and p.argument is None and not p.format_ok
    assert "<search> and <answer>" in p.error


def test_unbalanced_action_tag_is_invalid():
    p = parse_output("<think>x</think><search>cut by the token lim")
    assert p.action == "none" and "<search> is not closed" in p.error


def test_action_left_open_when_the_model_ended_its_turn_runs_but_fails_format():
    p = parse_output("<think>x</think><search>Mona Lisa painter\n", ended_turn=True)
    assert (p.action, p.argument, p.format_ok) == ("search", "Mona Lisa painter", False)
    assert "the reply ended inside it" in p.error
    # Not when the tag was closed and reopened earlier, nor with two open tags, nor an empty argument.
    assert parse_output("<answer>a</answer> <search>", ended_turn=True).action == "none"
    assert parse_output("<search>q <answer>a", ended_turn=True).action == "none"
    assert parse_output("text <search>  ", ended_turn=True).action == "none"
    assert parse_output("<search>q</search> and <answer>a", ended_turn=True).action == "none"


def test_unclosed_think_still_runs_the_action_but_fails_format():
    p = parse_output("<think>hmm <answer>Paris</answer>")
    assert p.action == "answer" and p.argument == "Paris"
    assert not p.format_ok and "<think>" in p.error


def test_no_action_and_empty_argument():
    assert "No action found" in parse_output("I think it is Paris.").error
    p = parse_output("<search>   </search>")
    assert p.action == "none" and "Empty query" in p.error
    assert "Empty answer" in parse_output("<answer></answer>").error


def test_action_not_offered_is_invalid():
    p = parse_output("<access>https://x.org</access>", allowed=("search", "answer"))
    assert p.action == "none" and "not available" in p.error
    assert "<access> ... </access>" not in p.error  # the usage hint lists only offered actions


def test_hidden_thinking_split():
    text = "long thoughts with <search>fake</search> inside</think>\n<search>real</search>"
    assert strip_hidden_thinking(text).strip() == "<search>real</search>"
    assert "long thoughts" in hidden_thinking(text)
    assert strip_hidden_thinking("<think>a</think>b") == "b"
    assert strip_hidden_thinking("<think>never closed <answer>x</answer>") == ""
