"""Every prompt the agents use, in one place (written for this project; see each constant's role).

Placeholders are filled with `str.format`; literal braces are doubled.
"""

from __future__ import annotations

# --- the append-only agent (BaseAgent) ------------------------------------------------------------
# Short, with a worked example of the exact format. Measured with SmolLM2-135M-Instruct (greedy, chat
# turns) on "Who painted the Mona Lisa?" + 4 corpus questions: the earlier step-by-step prompt got 0/5
# valid first searches; this one 1/5 (4/5 without the <access> line: a 135M model is that sensitive),
# and 5/5 with `prefill_first_action`, which `asearcher ask` turns on for the embedded model.

BASE_PROMPT = """Answer the question by searching. You can use these actions:
<search>a search query</search> searches Wikipedia; the results come back inside <information> </information>.
<access>a URL from the results</access> reads that page, part by part.
<answer>the answer</answer> gives your final answer: only a name, date, number or short phrase.
Write exactly one action per reply.

Example:
Question: Who wrote the play Hamlet?
Reply: <search>Hamlet play author</search>
Results: <information>[1] Hamlet: Hamlet is a tragedy written by William Shakespeare.</information>
Reply: <answer>William Shakespeare</answer>

Question: {question}"""

# A tool result is appended as OBS_HEAD + text + OBS_TAIL (the text may be cut to fit the budget).
# The tail names the two next moves plainly; asking a 135M model for <think> notes as well (and in
# the prompt) made it drop the format more often (3/5 first searches and 4/5 answers, against 4/5, 5/5).
OBS_HEAD = "\n\n<information>\n"
OBS_TAIL = (
    "\n</information>\n\nIf the results answer the question, reply with <answer>the answer</answer>. "
    "Otherwise reply with <search>a better query</search>.\n\n"
)
# After an invalid turn (bad tags, no action, empty query, ...) the error goes between OBS_HEAD and
# this tail, so the model can learn from it.
INVALID_TAIL = "\n</information>\n\n"

# Injected (loss mask 0) when the turn or token budget runs out; it ends with the opening answer tag
# so that the model only has to write the answer itself.
FORCE_INSTRUCTION = "No more searching is possible. Based on what you found, give your best final answer now."
FORCE_ANSWER = f"\n\n{FORCE_INSTRUCTION}\n<answer>"

# --- Search-R1 (baseline): its format, search only -------------------------------------------------

SEARCH_R1_PROMPT = """Answer the given question. You must reason inside <think> and </think> first every time you get new information. If you lack knowledge, you can call a search engine by <search> query </search> and it will return the top searched results between <information> and </information>. You can search as many times as you want. When you have the answer, give it inside <answer> and </answer> without a detailed explanation, for example <answer> Beijing </answer>. Question: {question}
"""

SEARCH_R1_OBS_HEAD = "\n\n<information>"
SEARCH_R1_OBS_TAIL = "</information>\n\n"

# --- the reasoning agent: a fresh prompt each step --------------------------------------------------

REASONING_PROTOCOL = """You are a research agent answering a question by searching and reading pages. Every step you see the question and a compact record of your work so far, and you choose ONE next action:
<search> a search query </search> to get the top results (titles, URLs, snippets).
<access> a URL </access> to read the next part of a page (accessing the same URL again continues where you stopped).
<answer> a short final answer </answer> when the evidence is sufficient: only the answer (a name, date, number or short phrase).
Think as long as you need, then end your reply with exactly one action."""

REASONING_ACT = """{protocol}

Question: {question}

Your work so far ({n_actions} actions):
{history}

{phase}"""

PHASE_EXPLORE = "Choose the next action. Do not answer yet: search more and read pages first (at least {remaining} more action(s))."
PHASE_OPEN = "Choose the next action, or answer if the evidence is sufficient."
PHASE_FORCE = "The step budget is used up. Give your final answer now inside <answer> </answer>."

REJECTED_ANSWER = "Answer {answer!r} rejected: at least {required} actions are required before answering, {done} done so far. Keep searching and verify the evidence."

REASONING_READ_RESULTS = """Question: {question}

Your work so far:
{history}

You searched for: {query}
Results:
{text}

Write down, in a few short sentences, what these results tell you about the question: facts, names, dates, and which URLs look worth reading. If nothing is relevant, say so. Do not answer the question here."""

REASONING_READ_PAGE = """Question: {question}

Your work so far:
{history}

You are reading {url} (part {chunk}):
{text}

Extract, in a few short sentences, everything in this part that helps answer the question (quote names, dates and numbers exactly). Say whether the page seems to have more useful parts. If nothing is relevant, say so. Do not answer the question here."""

EMPTY_HISTORY = "(nothing yet)"

# --- native function calling -----------------------------------------------------------------------

FC_SYSTEM = """You answer questions by searching a knowledge source with the tools you are given. Search, read pages (call access on the same URL again to read its next part), verify the facts, then call the answer tool with a short answer: only the answer (a name, date, number or short phrase)."""

FC_ANSWER_TOOL = {
    "type": "function",
    "function": {
        "name": "answer",
        "description": "Give the final answer and end the task.",
        "parameters": {
            "type": "object",
            "properties": {"answer": {"type": "string", "description": "The short final answer."}},
            "required": ["answer"],
        },
    },
}

FC_FORCE_ANSWER = "The step budget is used up. Call the answer tool now with your best answer."
