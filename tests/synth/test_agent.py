"""The synthesis agent's actions and verification branches, on scripted models (see conftest)."""

from __future__ import annotations

from synth_fakes import BASE_Q, HARD_Q, Router, W, happy_replies, task_of

from asearcher.synth.agent import SynthesisAgent
from asearcher.synth.config import SynthConfig


def make_agent(router: Router, store, graph, **cfg) -> SynthesisAgent:
    config = SynthConfig(direct_samples=3, max_edits=cfg.pop("max_edits", 3), **cfg)
    return SynthesisAgent(router.engine, router.engine, store, graph, config)


async def test_inject_edit_accepted_then_stop(store, graph):
    router = Router(**happy_replies())
    rec = await make_agent(router, store, graph).arun("q1", W + "Alpha_Town")
    assert rec["status"] == "accepted", rec["reason"]
    assert (rec["question"], rec["answer"], rec["accuracy"]) == (HARD_Q, "Alpha Town", 0.0)
    assert rec["pages"] == [W + "Alpha_Town", W + "Beta_River"]
    assert rec["facts"] == ["Alpha Town was founded in 1820.", "The Beta River rises in the Gamma Hills."]
    steps = [(h["action"], h["status"]) for h in rec["history"]]
    assert steps == [("propose", "accepted"), ("inject", "accepted"), ("stop", "accepted")]
    base, inject = rec["history"][0], rec["history"][1]
    assert base["verification"]["accuracy"] == 1.0  # the base question is answered from memory
    assert (inject["question_before"], inject["question_after"]) == (BASE_Q, HARD_Q)
    assert inject["target"] == W + "Beta_River" and inject["target_source"] == "model"
    assert [a["answer"] for a in inject["verification"]["answers"]] == ["Delta City"] * 3
    # one distinct wrong answer -> one uniqueness check, judged not a valid alternative
    assert inject["verification"]["alternatives"] == [
        {"answer": "Delta City", "also_correct": False, "reason": "Delta City is not on the Beta River"}
    ]
    assert router.calls["check-alternative"] == 1


async def test_edit_rejected_as_invalid_keeps_question(store, graph):
    def valid(req):
        return {"valid": "river" not in req.messages[-1]["content"], "reason": "two facts, unclear"}

    router = Router(**happy_replies(**{"check-valid": valid}))
    rec = await make_agent(router, store, graph, max_edits=1).arun("q1", W + "Alpha_Town")
    edit = rec["history"][1]
    assert (edit["action"], edit["status"]) == ("inject", "rejected")
    assert edit["reason"].startswith("invalid") and edit["question_after"] == HARD_Q
    assert rec["question"] == BASE_Q and rec["pages"] == [W + "Alpha_Town"]
    # the base question stays solvable without tools: the seed ends rejected as too easy
    assert rec["status"] == "rejected" and rec["reason"].startswith("too easy")


async def test_edit_rejected_for_a_valid_alternative_answer(store, graph):
    router = Router(**happy_replies(**{"check-alternative": {"also_correct": True, "reason": "also fits"}}))
    rec = await make_agent(router, store, graph, max_edits=1).arun("q1", W + "Alpha_Town")
    edit = rec["history"][1]
    assert edit["status"] == "rejected" and edit["reason"].startswith("alternative_answer")
    assert edit["verification"]["alternatives"][0]["answer"] == "Delta City"
    assert rec["question"] == BASE_Q and rec["status"] == "rejected"


async def test_stop_accepted_once_unsolved_without_tools(store, graph):
    router = Router(**happy_replies(answer={"answer": "Omega"}, **{"choose-action": {"action": "stop"}}))
    rec = await make_agent(router, store, graph).arun("q1", W + "Alpha_Town")
    assert rec["status"] == "accepted" and rec["question"] == BASE_Q and rec["accuracy"] == 0.0
    assert [(h["action"], h["status"]) for h in rec["history"]] == [("propose", "accepted"), ("stop", "accepted")]
    assert router.calls["choose-action"] == 1
    offer = next(r for r in router.engine.requests if task_of(r) == "choose-action").messages[-1]["content"]
    assert '"action": "stop"' in offer


async def test_stop_refused_while_still_solved(store, graph):
    router = Router(**happy_replies(**{"choose-action": {"action": "stop"}}))
    rec = await make_agent(router, store, graph, max_edits=2).arun("q1", W + "Alpha_Town")
    assert [h["status"] for h in rec["history"][1:]] == ["refused", "refused"]
    assert "stop refused" in rec["history"][1]["reason"]
    # the prompt offers "stop" only once the question is hard
    offers = [r.messages[-1]["content"] for r in router.engine.requests if task_of(r) == "choose-action"]
    assert offers and all('"action": "stop"' not in o for o in offers)
    assert rec["status"] == "rejected"


async def test_fuzz_edit_verified_and_accepted(store, graph):
    fuzzed = "Which town was founded in the early nineteenth century?"
    answer = lambda req: {"answer": "Alpha Town" if "1820" in req.messages[-1]["content"] else "Nowhere"}
    actions = iter([{"action": "fuzz", "question": fuzzed, "note": "blur the year"}, {"action": "stop"}])
    router = Router(**happy_replies(answer=answer, **{"choose-action": lambda req: next(actions)}))
    rec = await make_agent(router, store, graph).arun("q1", W + "Alpha_Town")
    assert rec["status"] == "accepted" and rec["question"] == fuzzed
    assert [(h["action"], h["status"]) for h in rec["history"]] == [
        ("propose", "accepted"),
        ("fuzz", "accepted"),
        ("stop", "accepted"),
    ]
    assert rec["pages"] == [W + "Alpha_Town"]  # fuzzing reads no new page
    assert router.calls["inject-fact"] == 0


async def test_inject_that_changes_the_answer_is_rejected(store, graph):
    router = Router(**happy_replies(**{"inject-fact": {"question": HARD_Q, "answer": "Beta River"}}))
    rec = await make_agent(router, store, graph, max_edits=1).arun("q1", W + "Alpha_Town")
    assert rec["history"][1]["status"] == "rejected" and "answer changed" in rec["history"][1]["reason"]


async def test_unknown_inject_target_falls_back_to_a_random_linked_page(store, graph):
    actions = iter([{"action": "inject", "target": "Atlantis"}, {"action": "stop"}])
    router = Router(**happy_replies(**{"choose-action": lambda req: next(actions)}))
    rec = await make_agent(router, store, graph).arun("q1", W + "Alpha_Town")
    inject = rec["history"][1]
    assert inject["target_source"] == "random" and inject["target"] == W + "Beta_River"  # the only link


async def test_answer_in_question_is_invalid_without_asking_the_verifier(store, graph):
    router = Router(**happy_replies(**{"propose-question": {"question": "Is Alpha Town old?", "answer": "Alpha Town"}}))
    rec = await make_agent(router, store, graph).arun("q1", W + "Alpha_Town")
    assert rec["status"] == "rejected" and "appears in the question" in rec["reason"]
    assert router.calls["check-valid"] == 0 and rec["question"] == "Is Alpha Town old?"


async def test_malformed_json_is_retried_then_the_seed_fails(store, graph):
    router = Router(**happy_replies(**{"extract-facts": "Sure! Alpha Town is a town. {not json"}))
    rec = await make_agent(router, store, graph, json_retries=2).arun("q1", W + "Alpha_Town")
    assert rec["status"] == "failed" and "no JSON object" in rec["reason"] and "3 tries" in rec["reason"]
    assert router.calls["extract-facts"] == 3 and router.calls["propose-question"] == 0
    assert rec["question"] is None


async def test_malformed_action_fails_that_step_and_the_loop_goes_on(store, graph):
    replies = iter(
        [
            "I think we should inject.",
            '{"action": "teleport"}',
            '{"action": "inject"}',
            '```json\n{"action": "stop"}\n```',
        ]
    )
    router = Router(**happy_replies(**{"choose-action": lambda req: next(replies)}))
    rec = await make_agent(router, store, graph, json_retries=1).arun("q1", W + "Alpha_Town")
    failed = rec["history"][1]
    assert failed["status"] == "failed" and "'action' must be one of" in failed["reason"]
    assert failed["raw"] == ["I think we should inject.", '{"action": "teleport"}']
    assert [(h["action"], h["status"]) for h in rec["history"][2:]] == [("inject", "accepted"), ("stop", "accepted")]
    assert rec["status"] == "accepted"


async def test_retry_after_a_malformed_reply_succeeds(store, graph):
    facts = iter(["no facts today", {"facts": ["Alpha Town was founded in 1820."]}])
    router = Router(
        **happy_replies(
            **{
                "extract-facts": lambda req: (
                    next(facts)
                    if router.calls["extract-facts"] < 3
                    else {"facts": ["The Beta River rises in the Gamma Hills."]}
                )
            }
        )
    )
    rec = await make_agent(router, store, graph).arun("q1", W + "Alpha_Town")
    assert rec["status"] == "accepted" and router.calls["extract-facts"] == 3


async def test_judge_grades_non_exact_answers(store, graph):
    # "alpha town, usa" is not an exact match; the judge (the verifier model) says correct.
    router = Router(
        **happy_replies(
            answer={"answer": "alpha town, USA"}, judge="Verdict: correct", **{"choose-action": {"action": "stop"}}
        )
    )
    rec = await make_agent(router, store, graph, max_edits=1).arun("q1", W + "Alpha_Town")
    assert rec["history"][0]["verification"]["accuracy"] == 1.0 and router.calls["judge"] >= 1
    router_em = Router(**happy_replies(answer={"answer": "alpha town, USA"}, **{"choose-action": {"action": "stop"}}))
    rec_em = await make_agent(router_em, store, graph, max_edits=1, scoring="em").arun("q1", W + "Alpha_Town")
    assert rec_em["history"][0]["verification"]["accuracy"] == 0.0 and router_em.calls["judge"] == 0


async def test_failed_fact_extraction_keeps_the_raw_replies(store, graph):
    router = Router(**happy_replies(**{"extract-facts": "Syntactically: the sentence"}))
    rec = await make_agent(router, store, graph, json_retries=1).arun("q1", W + "Alpha_Town")
    (entry,) = rec["history"]
    assert (entry["action"], entry["status"]) == ("extract-facts", "failed")
    assert entry["raw"] == ["Syntactically: the sentence"] * 2
