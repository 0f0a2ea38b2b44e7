"""What the fact task (corpus/facts.py) allows through the real retrieval stack, without a model.

Runs the scripted strategies of rl/train/fact_expert.py inside the real BaseAgent, with the
recipe's agent and tool settings, the embedded BM25 index and SmolLM2's tokenizer, and reports EM:

    ceiling      the answer's page is among the hits of a search for the (last) sentence (top k);
                 for two-hop questions a low value means the second sentence alone rarely finds it
    strong       search; answer from a snippet; else read the most similar hits (the "perfect" strategy)
    weak         search; answer from hit 1's snippet (read_prob 0)
    weak+read    the SFT expert: as weak, but reads hit 1's page on `read_prob` of the questions

    python benchmarks/fact_task_ceiling.py --split test --n 300 --config cpu-default
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from asearcher.corpus.facts import ensure_fact_qa
from asearcher.eval.datasets import load_qa


def _tokenizer():
    from asearcher.engines.embedded import embedded_model_path, load_tokenizer

    return load_tokenizer(embedded_model_path())


async def _run(args: argparse.Namespace) -> dict:
    from asearcher.cli.train import resolve_recipe
    from asearcher.config import load_config
    from asearcher.rl.config import TrainConfig
    from asearcher.rl.train.expert import acollect_expert
    from asearcher.tools import aclose_tools
    from asearcher.tools.factory import make_tools

    config = load_config(TrainConfig, resolve_recipe(args.config), args.set)
    key = args.split if args.task == "facts" else f"bridge_{args.split}"
    items = load_qa(str(ensure_fact_qa()[key]), None, limit=args.n)
    tools = make_tools(None, config.tools)
    tok = _tokenizer()
    triples = [(it.id, it.question, list(it.golds)) for it in items]
    out: dict = {"task": args.task, "split": args.split, "n": len(items), "config": args.config, "topk": config.tools.topk,
                 "max_chars_per_hit": config.tools.max_chars_per_hit, "max_turns": config.agent.max_turns}
    search = tools["search"]
    hit = 0
    for it in items:
        from asearcher.corpus.facts import BLANK, cloze_of

        # the page holding the answer: the sentence's own page, or the second hop's (found only via X)
        res = await search.acall(" ".join(cloze_of(it.question).replace(BLANK, " ").split()))
        hit += it.metadata.get("url2", it.metadata.get("url", "")) in res.text
    out["ceiling_page_in_topk"] = hit / len(items)
    for name, oracle, read in (("strong", True, 0.0), ("weak", False, 0.0), ("weak+read", False, args.read_prob)):
        t0 = time.perf_counter()
        trajs, stats = await acollect_expert(triples, tools, tok, config.agent, oracle=oracle,
                                             keep_only_correct=False, read_prob=read)
        calls = [sum(t.action in ("search", "access") for t in tr.turns) for tr in trajs]
        out[name] = {"em": stats.em, "tool_calls_mean": sum(calls) / len(calls),
                     "turns_mean": sum(len(tr.turns) for tr in trajs) / len(trajs),
                     "tokens_mean": sum(len(tr.segments[-1].token_ids) for tr in trajs) / len(trajs),
                     "seconds": time.perf_counter() - t0}
    out["read_prob"] = args.read_prob
    await aclose_tools(tools)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", default="test", choices=["train", "test"])
    ap.add_argument("--task", default="facts", choices=["facts", "facts-bridge"])
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--config", default="cpu-default")
    ap.add_argument("--read-prob", type=float, default=0.25)
    ap.add_argument("--out", default="")
    ap.add_argument("--set", nargs="*", default=[], help="recipe overrides, e.g. tools.topk=5")
    args = ap.parse_args()
    result = asyncio.run(_run(args))
    print(json.dumps(result, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
