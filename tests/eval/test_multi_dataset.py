"""Eval for ASearcher users: several datasets per run (one summary each plus an overall one), the
test-data folder names of ASearcher's release as --data names, a distinct seed per sample, and the
K-run aggregator LLM on the CLI.

The policy is a local OpenAI-compatible fake server (`http_fakes`) that honours seeds the way a real
sampler does (a different seed, a different answer), which no model here does deterministically: it
answers the gold for seed 3 and a wrong, seed-numbered answer otherwise. Expected metrics follow by
hand from that rule.
"""

import json
import re
import shutil

import pytest
from eval_fakes import FIX
from http_fakes import FakeServer, closed_port_url

from asearcher.cli import main
from asearcher.eval.datasets import load_qa, resolve_dataset
from asearcher.eval.runner import sample_seed

GOLD = {it.question: it.golds[0] for it in load_qa(FIX / "flashrag.jsonl") + load_qa(FIX / "asearcher.jsonl")}


def seeded_policy(method, path, body, headers):
    if path.endswith("/models"):
        return 200, {"data": [{"id": "seeded"}]}
    if path == "/props":
        return 404, {}
    prompt = json.dumps(body["messages"])
    question = next(q for q in GOLD if json.dumps(q)[1:-1] in prompt)
    seed = body.get("seed")
    text = f"<answer>{GOLD[question]}</answer>" if seed == 3 else f"<answer>guess {seed}</answer>"
    return 200, {"choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}


def aggregator_picking(n):
    def respond(method, path, body, headers):
        if path.endswith("/models"):
            return 200, {"data": [{"id": "agg"}]}
        if path == "/props":
            return 404, {}
        return 200, {"choices": [{"message": {"role": "assistant", "content": f"Choice: {n}"},
                                  "finish_reason": "stop"}]}
    return respond


def run_eval(tmp_path, data, *extra):
    out = tmp_path / "out"
    with FakeServer(seeded_policy) as policy:
        code = main(["eval", "--data", data, "--k", "4", "--agent", "reasoning", "--model", policy.url,
                     "--retriever", closed_port_url(), "--out", str(out), "--no-progress", *extra])
    assert code == 0
    return out


def test_two_datasets_k4_one_summary_each_plus_overall_with_distinct_samples(tmp_path, capsys):
    data = f"{FIX / 'flashrag.jsonl'},{FIX / 'asearcher.jsonl'}"
    out = run_eval(tmp_path, data)
    top = json.loads((out / "summary.json").read_text())["datasets"]
    assert list(top) == ["flashrag", "asearcher", "overall"]
    for name in ("flashrag", "asearcher"):
        own = json.loads((out / name / "summary.json").read_text())["datasets"]
        assert own == {name: top[name]}
        records = [json.loads(x) for x in (out / name / "results.jsonl").read_text().splitlines()]
        by_q = {}
        for r in records:
            by_q.setdefault(r["qid"], []).append(r)
        assert len(by_q) == 3 and all(len(rs) == 4 for rs in by_q.values())
        for rs in by_q.values():  # k distinct samples: seeds 0..3, four different answers
            assert sorted(r["seed"] for r in rs) == [0, 1, 2, 3]
            assert len({r["answer"] for r in rs}) == 4
        # One sample in four is right: avg@4 = 0.25, pass@4 = 1, majority of four distinct answers =
        # the first seen (sample 0, wrong) = 0.
        em = top[name]["metrics"]["em"]
        assert em == {"avg@4": 0.25, "pass@4": 1.0, "maj@4": 0.0}
    overall = top["overall"]
    assert (overall["datasets"], overall["questions"], overall["samples"]) == (2, 6, 24)
    assert overall["metrics"]["em"] == {"avg@4": 0.25, "pass@4": 1.0, "maj@4": 0.0}
    printed = capsys.readouterr().out
    assert "## flashrag" in printed and "## asearcher" in printed and "## overall" in printed
    assert "mean over the 2 datasets" in printed


def test_overall_metrics_weigh_datasets_equally(tmp_path):
    # flashrag.jsonl has 3 questions; a one-question file makes the pooled and the mean differ.
    one = tmp_path / "one.jsonl"
    one.write_text((FIX / "asearcher.jsonl").read_text().splitlines()[0] + "\n")
    out = run_eval(tmp_path, f"{FIX / 'flashrag.jsonl'},{one}", "agent.max_turns=2")
    overall = json.loads((out / "summary.json").read_text())["datasets"]["overall"]
    assert overall["questions"] == 4
    assert overall["metrics"]["f1"]["avg@4"] == pytest.approx(
        (overall_f1(out, "flashrag") + overall_f1(out, "one")) / 2)


def overall_f1(out, name):
    return json.loads((out / name / "summary.json").read_text())["datasets"][name]["metrics"]["f1"]["avg@4"]


def test_aggregator_llm_picks_among_the_k_answers(tmp_path):
    with FakeServer(aggregator_picking(4)) as agg:  # "Choice: 4" = sample 3's answer = the gold
        out = run_eval(tmp_path, str(FIX / "flashrag.jsonl"), "--aggregator", agg.url)
    em = json.loads((out / "summary.json").read_text())["datasets"]["flashrag"]["metrics"]["em"]
    assert em["agg@4"] == 1.0 and em["maj@4"] == 0.0
    rows = [json.loads(x) for x in (out / "aggregated.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and all(len(r["answers"]) == 4 for r in rows)
    assert "agg@4" in (out / "summary.md").read_text()


def test_aggregator_down_falls_back_to_the_majority_vote(tmp_path):
    out = run_eval(tmp_path, str(FIX / "flashrag.jsonl"), "--aggregator", closed_port_url(), "agent.max_turns=2")
    em = json.loads((out / "summary.json").read_text())["datasets"]["flashrag"]["metrics"]["em"]
    assert em["agg@4"] == em["maj@4"] == 0.0
    rows = [json.loads(x) for x in (out / "aggregated.jsonl").read_text().splitlines()]
    assert all(r["error"]["stop_reason"] == "error" for r in rows)


@pytest.mark.parametrize("alias", ["HotpotQA_rand1000", "hotpotqa_rand1000", "Bamboogle", "2WikiMultihopQA_rand1000",
                                   "Musique_rand1000", "NQ_rand1000", "TriviaQA_rand1000", "PopQA_rand1000",
                                   "frames", "GAIA", "xbench-deepsearch"])
def test_asearcher_test_data_folder_names_resolve(tmp_path, alias):
    folder = {"hotpotqa_rand1000": "HotpotQA_rand1000"}.get(alias, alias)
    (tmp_path / folder).mkdir()
    shutil.copy(FIX / "flashrag.jsonl", tmp_path / folder / "test.jsonl")
    assert resolve_dataset(alias, tmp_path) == tmp_path / folder / "test.jsonl"


def test_alias_prefers_the_named_folder_over_the_benchmarks_other_folders(tmp_path):
    for folder in ("hotpotqa", "HotpotQA_rand1000"):
        (tmp_path / folder).mkdir()
        shutil.copy(FIX / "flashrag.jsonl", tmp_path / folder / "test.jsonl")
    assert resolve_dataset("HotpotQA_rand1000", tmp_path).parent.name == "HotpotQA_rand1000"
    assert resolve_dataset("hotpotqa", tmp_path).parent.name == "hotpotqa"


def test_aliases_on_the_cli_with_a_data_root(tmp_path):
    root = tmp_path / "ASearcher-test-data"
    for folder, src in (("HotpotQA_rand1000", "flashrag.jsonl"), ("Bamboogle", "asearcher.jsonl")):
        (root / folder).mkdir(parents=True)
        shutil.copy(FIX / src, root / folder / "test.jsonl")
    out = run_eval(tmp_path, "HotpotQA_rand1000,Bamboogle", "--data-root", str(root), "agent.max_turns=2")
    assert list(json.loads((out / "summary.json").read_text())["datasets"]) == [
        "HotpotQA_rand1000", "Bamboogle", "overall"]


def test_sample_seeds():
    assert [sample_seed(None, s, 4) for s in range(4)] == [0, 1, 2, 3]
    assert [sample_seed(10, s, 2) for s in range(2)] == [10, 11]
    assert sample_seed(None, 0, 1) is None and sample_seed(5, 0, 1) == 5


def test_bad_multi_data_specs(tmp_path, capsys):
    assert main(["eval", "--data", f"{FIX / 'flashrag.jsonl'},,x", "--out", str(tmp_path)]) == 2
    assert "empty name between commas" in capsys.readouterr().err
    assert main(["eval", "--data", f"{FIX / 'flashrag.jsonl'},{FIX / 'flashrag.jsonl'}x", "--out",
                 str(tmp_path)]) == 2
    assert re.search(r"no such file or folder", capsys.readouterr().err)
