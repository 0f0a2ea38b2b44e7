"""The stage before RL when `sft.enabled`: score the starting ("shipped") model on the held-out
questions, then the SFT warm start into `<run>/sft/`; the RL run then loads that folder as its model.

    eval shipped model -> expert episodes -> SFT -> (TrainLoop: eval after SFT -> RL -> eval after RL -> report)

Both steps are skipped when their output is complete (a resumed run never trains the warm start twice);
an unfinished one continues: the eval from its records, the warm start from its last SFT checkpoint.
"""

from __future__ import annotations

import logging
from pathlib import Path

from asearcher.rl.config import TrainConfig
from asearcher.rl.run.held_out import aevaluate, eval_setup, load_summary
from asearcher.rl.train.sft import awarm_start, finished_warm_start

logger = logging.getLogger(__name__)


async def arun_sft_stage(config: TrainConfig, run_dir: Path, progress: bool = True) -> str:
    """Run (or reuse) the shipped-model eval and the warm start; returns the SFT model folder."""
    from asearcher.agent.budget import afit_to_engine
    from asearcher.engines.embedded import embedded_model_path
    from asearcher.engines.transformers_engine import TransformersEngine
    from asearcher.tools import aclose_tools
    from asearcher.tools.factory import make_tools

    out = Path(run_dir) / "sft"
    if finished_warm_start(out):
        logger.info("SFT warm start already in %s: reused", out)
        return str(out)
    start_model = config.model or str(embedded_model_path())
    tools = make_tools(config.retriever or None, config.tools)
    try:
        shipped = Path(run_dir) / "eval_shipped"
        if config.eval.enabled and load_summary(shipped) is None:
            logger.info("phase: eval shipped model (%s)", start_model)
            engine = TransformersEngine.from_path(start_model, config.engine)
            try:
                agent = await afit_to_engine(config.agent, engine)
                items, factory = eval_setup(config, engine, tools, lambda: agent)
                items = items[:config.eval.shipped_questions or len(items)]
                await aevaluate(items, factory, shipped, config, f"shipped model {start_model}", progress)
            finally:
                await engine.aclose()
        from asearcher.corpus.tasks import embedded_qa_file

        train = str(embedded_qa_file(config.data.train, "train") or config.data.train)
        folder, _ = await awarm_start(config.sft, start_model, train, tools, config.agent, out, progress)
    finally:
        await aclose_tools(tools)
    return str(folder)
