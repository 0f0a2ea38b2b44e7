"""QA synthesis: an agent that grows hard, verified questions over a corpus's link graph, and the
difficulty filter that keeps the ones a search agent solves only sometimes (see docs/synth.md)."""

from asearcher.synth.agent import SynthesisAgent
from asearcher.synth.config import FilterConfig, RoleConfig, SynthConfig
from asearcher.synth.filter import filter_questions
from asearcher.synth.graph import LinkGraph
from asearcher.synth.llm_json import JsonReply, acall_json, extract_json
from asearcher.synth.pipeline import SynthRequest, asynthesize
from asearcher.synth.runner import SynthJob, arun_synth, plan_jobs
from asearcher.synth.verify import Verification, Verifier

__all__ = [
    "FilterConfig",
    "JsonReply",
    "LinkGraph",
    "RoleConfig",
    "SynthConfig",
    "SynthJob",
    "SynthRequest",
    "SynthesisAgent",
    "Verification",
    "Verifier",
    "acall_json",
    "arun_synth",
    "asynthesize",
    "extract_json",
    "filter_questions",
    "plan_jobs",
]
