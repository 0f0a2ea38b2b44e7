"""Agent loops (one code path for evaluation, RL training and `asearcher ask`), their prompts,
output parsing, token contexts and live trace.

    agent = make_agent("base", engine, tools, AgentConfig(max_turns=8), trace=TracePrinter())
    trajectory = await agent.arun("Who painted the Mona Lisa?")
    prompt_record(config)   # {"prompt": "base", "prompt_file": "builtin", "prompt_sha256": "..."}, for run records
"""

from asearcher.agent.config import AgentConfig
from asearcher.agent.factory import KINDS, make_agent
from asearcher.agent.parsing import ParsedOutput, parse_output
from asearcher.agent.prompts import prompt_record, select_prompt
from asearcher.agent.trace import Trace, TracePrinter

__all__ = ["KINDS", "AgentConfig", "ParsedOutput", "Trace", "TracePrinter", "make_agent", "parse_output",
           "prompt_record", "select_prompt"]
