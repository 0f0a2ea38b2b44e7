"""Throughput of the local backends on the embedded model: `python -m asearcher.engines.bench`.

Measures generated tokens per second for 1 request and for N concurrent requests, for the in-process
TransformersEngine and the xllamacpp server. Results feed the backend choice in docs/engines.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from tqdm import tqdm

from asearcher.api.engine import GenRequest
from asearcher.engines.config import EngineConfig
from asearcher.engines.embedded import embedded_model_path, load_causal_lm
from asearcher.engines.llamacpp_server import LlamaCppEngine
from asearcher.engines.transformers_engine import TransformersEngine

QUESTIONS = [
    "Who wrote the novel War and Peace, and when?",
    "Explain what a search engine index is.",
    "Name three rivers in Europe and where they flow.",
    "What is the capital of Australia and why was it chosen?",
]


async def _arun(engine: Any, prompts: list[list[int]], max_new_tokens: int) -> dict[str, float]:
    start = time.perf_counter()
    reqs = [GenRequest(input_ids=p, max_new_tokens=max_new_tokens, temperature=0.7, seed=i) for i, p in enumerate(prompts)]
    results = await asyncio.gather(*(engine.agenerate(r) for r in reqs))
    wall = time.perf_counter() - start
    tokens = sum(len(r.output_ids) for r in results)
    return {"requests": len(prompts), "tokens": tokens, "wall_s": round(wall, 2), "tok_per_s": round(tokens / wall, 1)}


async def abenchmark(max_new_tokens: int, concurrency: int, threads: int) -> list[dict[str, Any]]:
    """Run both backends at concurrency 1 and `concurrency`; return one row per (backend, concurrency)."""
    model, tok = load_causal_lm(embedded_model_path())
    prompts = [tok.chat_ids([{"role": "user", "content": q}]) for q in QUESTIONS * concurrency][:concurrency]
    rows = []
    engines = {
        # No prefix cache: the warm-up and repeated questions would otherwise skip their prefill.
        "transformers": lambda: TransformersEngine(model, tok, max_batch_size=concurrency, prefix_cache_tokens=0),
        "llamacpp": lambda: LlamaCppEngine(
            embedded_model_path(), EngineConfig(n_parallel=concurrency, n_threads=threads), tokenizer=tok
        ),
    }
    with tqdm(total=2 * len(engines), desc="benchmark") as bar:
        for name, build in engines.items():
            engine = build()
            await _arun(engine, prompts[:1], 4)  # warm-up
            for n in (1, concurrency):
                rows.append({"backend": name, **await _arun(engine, prompts[:n], max_new_tokens)})
                bar.update()
            await engine.aclose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--threads", type=int, default=0, help="llama.cpp threads (0: all cores)")
    args = parser.parse_args()
    for row in asyncio.run(abenchmark(args.max_new_tokens, args.concurrency, args.threads)):
        print(json.dumps(row))


if __name__ == "__main__":
    main()
