"""The ask page's episodes: the `asearcher ask` agent run as a background task, its trace as events.

The agent loop is the one `asearcher ask` runs (`agent.ask.aask`); a `Trace` subclass turns each
completed turn into an event that the page receives over server-sent events. Engines and tools are
built once per choice and shared by later questions (starting the embedded llama.cpp server takes
seconds); a choice is an id from `AskChoices`, so the page never sees a path, URL or key.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from asearcher.agent.ask import AskConfig, aask
from asearcher.agent.factory import KINDS
from asearcher.agent.trace import Trace
from asearcher.api import InferenceEngine, StopReason, Tool, Trajectory, Turn
from asearcher.errors import UserError

logger = logging.getLogger(__name__)

EngineFactory = Callable[[str | None, AskConfig], InferenceEngine]
ToolsFactory = Callable[[str | None, AskConfig], dict[str, Tool]]
OBSERVATION_CHARS = 4000  # of each observation sent to the page (the saved trajectory keeps it all)
HIT_CHARS = 300
KEEP_SESSIONS = 50  # finished episodes kept for the page to replay or save


def _label(spec: str) -> str:
    """What the page may show of a model/retriever spec: a URL without credentials, query or fragment."""
    if spec.startswith(("http://", "https://")):
        u = urlsplit(spec)
        return f"{u.scheme}://{u.hostname}{f':{u.port}' if u.port else ''}{u.path}"
    return spec


@dataclass
class AskChoices:
    """Agents, models and retrievers the page may pick, by id ("embedded" = the built-in one)."""

    models: list[str] = field(default_factory=list)
    retrievers: list[str] = field(default_factory=list)

    def public(self) -> dict[str, Any]:
        return {"agents": list(KINDS),
                "models": [{"id": "embedded", "label": "embedded SmolLM2-135M-Instruct (llama.cpp)"}]
                + [{"id": str(i), "label": _label(m)} for i, m in enumerate(self.models)],
                "retrievers": [{"id": "embedded", "label": "embedded Wikipedia corpus (BM25)"}]
                + [{"id": str(i), "label": _label(r)} for i, r in enumerate(self.retrievers)]}

    @staticmethod
    def _pick(options: list[str], choice: str, what: str) -> str | None:
        if choice == "embedded":
            return None
        if choice.isdigit() and int(choice) < len(options):
            return options[int(choice)]
        raise UserError(f"unknown {what} {choice!r}")

    def model(self, choice: str) -> str | None:
        return self._pick(self.models, choice, "model")

    def retriever(self, choice: str) -> str | None:
        return self._pick(self.retrievers, choice, "retriever")


def turn_view(turn: Turn) -> dict[str, Any]:
    """A turn as the page shows it: thought, action, hits, chunk read, notes, error, observation."""
    d = turn.data
    hits = [{"title": h.get("title") or h.get("url") or "?", "url": h.get("url", ""),
             "text": (h.get("text") or "")[:HIT_CHARS]} for h in d.get("hits", []) or [] if isinstance(h, dict)]
    obs = turn.observation
    return {
        "index": turn.index, "action": turn.action, "argument": turn.argument, "thought": d.get("thought", ""),
        "notes": d.get("notes", ""), "hits": hits, "error": turn.error, "tool_ok": d.get("tool_ok"),
        "chunk": {k: d.get(k) for k in ("chunk_index", "num_chunks", "title", "page_url")} if turn.action == "access"
        else None,
        "observation": obs[:OBSERVATION_CHARS] + ("…" if len(obs) > OBSERVATION_CHARS else "") if obs else obs,
        "gen_tokens": turn.gen_tokens, "gen_time_s": round(turn.gen_time_s, 3), "tool_time_s": round(turn.tool_time_s, 3),
    }


class _EventTrace(Trace):
    """Forwards the agent's trace calls to its session."""

    def __init__(self, session: AskSession) -> None:
        self.session = session

    def start(self, question: str, agent: str) -> None:
        self.session.emit("start", {"question": question, "agent": agent})

    def turn(self, turn: Turn) -> None:
        self.session.turns.append(turn)
        self.session.emit("turn", turn_view(turn))


@dataclass
class AskSession:
    """One episode: its events so far (replayed to every listener), its task and result."""

    id: str
    question: str
    agent: str
    retriever: str | None = None  # the spec its tools were built from (for the hits' page links)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    turns: list[Turn] = field(default_factory=list)
    trajectory: Trajectory | None = None
    task: asyncio.Task | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    started: float = field(default_factory=time.time)

    @property
    def done(self) -> bool:
        return self.trajectory is not None or any(kind == "failure" for kind, _ in self.events)

    def emit(self, kind: str, data: dict[str, Any]) -> None:
        self.events.append((kind, data))
        self.changed.set()

    def finish(self, traj: Trajectory) -> None:
        self.trajectory = traj
        self.emit("end", {"answer": traj.answer, "stop_reason": traj.stop_reason.value, "turns": len(traj.turns),
                          "searches": traj.num_searches, "page_reads": traj.num_tool_calls - traj.num_searches})

    async def aevents(self, start: int = 0):
        """Yield (number, kind, data) from event `start` on, waiting for new ones until the episode ends."""
        i = start
        while True:
            while i < len(self.events):
                yield i, *self.events[i]
                i += 1
            if self.done:
                return
            self.changed.clear()
            if i == len(self.events):
                await self.changed.wait()


class AskRunner:
    """Starts, cancels and keeps ask episodes; owns the engines and tools it built."""

    def __init__(self, choices: AskChoices, configs: Callable[[str | None], AskConfig],
                 engine_factory: EngineFactory | None = None, tools_factory: ToolsFactory | None = None) -> None:
        """`configs(model_spec)` gives the AskConfig for a model (the embedded one gets its defaults)."""
        self.choices = choices
        self.configs = configs
        self.engine_factory = engine_factory or _default_engine
        self.tools_factory = tools_factory or _default_tools
        self.sessions: dict[str, AskSession] = {}
        self._engines: dict[str | None, InferenceEngine] = {}
        self._tools: dict[str | None, dict[str, Tool]] = {}
        self._build_lock = asyncio.Lock()
        self._ids = itertools.count(1)

    async def _parts(self, model: str | None, retriever: str | None, config: AskConfig):
        async with self._build_lock:  # two first questions must not start two llama.cpp servers
            if retriever not in self._tools:
                self._tools[retriever] = await asyncio.to_thread(self.tools_factory, retriever, config)
            if model not in self._engines:
                self._engines[model] = await asyncio.to_thread(self.engine_factory, model, config)
        return self._engines[model], self._tools[retriever]

    def start(self, question: str, agent: str, model: str, retriever: str, max_turns: int | None) -> AskSession:
        """Begin an episode in the background; raises UserError on a bad choice or question."""
        if not question.strip():
            raise UserError("the question is empty")
        if agent not in KINDS:
            raise UserError(f"agent kind {agent!r} is not one of {list(KINDS)}")
        model_spec, retriever_spec = self.choices.model(model), self.choices.retriever(retriever)
        config = self.configs(model_spec)
        if max_turns:
            config = dataclasses.replace(config, agent=dataclasses.replace(config.agent, max_turns=int(max_turns)))
        config.agent.validate()
        session = AskSession(f"a{next(self._ids)}-{int(time.time())}", question.strip(), agent, retriever_spec)
        self.sessions[session.id] = session
        self._forget_old()
        session.task = asyncio.create_task(self._arun(session, model_spec, retriever_spec, config))
        return session

    async def _arun(self, s: AskSession, model: str | None, retriever: str | None, config: AskConfig) -> None:
        try:
            s.emit("status", {"text": "loading model and retriever…"})
            engine, tools = await self._parts(model, retriever, config)
            s.emit("status", {"text": "running"})
            agent_config = dataclasses.replace(config.agent, kind=s.agent)
            s.finish(await aask(s.question, engine, tools, agent_config, _EventTrace(s)))
        except asyncio.CancelledError:
            s.finish(Trajectory(qid="ask", question=s.question, stop_reason=StopReason.ABORTED, turns=list(s.turns),
                                agent=s.agent, metadata={"cancelled": True}))
        except UserError as e:
            s.emit("failure", {"text": str(e)})
        except Exception as e:  # our bug or a dead engine: the page shows it, the server keeps serving
            logger.exception("ask episode %s failed", s.id)
            s.emit("failure", {"text": f"{type(e).__name__}: {e}"})

    def cancel(self, sid: str) -> bool:
        s = self.sessions[sid]
        if s.task is not None and not s.task.done():
            s.task.cancel()
            return True
        return False

    def _forget_old(self) -> None:
        done = [sid for sid, s in self.sessions.items() if s.done]
        for sid in done[: max(0, len(done) - KEEP_SESSIONS)]:
            del self.sessions[sid]

    async def apage(self, sid: str, url: str) -> dict[str, str] | None:
        """The whole text of a page the episode's retriever knows (for the hits' links)."""
        access = self._tools.get(self.sessions[sid].retriever, {}).get("access")
        for backend in getattr(access, "backends", []):
            page = await backend.aget(url)
            if page is not None:
                return {"url": page.url, "title": page.title, "text": page.text}
        return None

    def save(self, sid: str, folder: Path) -> Path:
        """Write the finished episode's trajectory as JSON (the `asearcher ask --json` format)."""
        s = self.sessions[sid]
        if s.trajectory is None:
            raise UserError("the episode has not finished")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"ask-{time.strftime('%Y%m%d-%H%M%S', time.localtime(s.started))}-{s.id}.json"
        path.write_text(s.trajectory.to_json() + "\n")
        return path

    async def aclose(self) -> None:
        for s in self.sessions.values():
            if s.task is not None and not s.task.done():
                s.task.cancel()
        await asyncio.gather(*(s.task for s in self.sessions.values() if s.task), return_exceptions=True)
        from asearcher.tools import aclose_tools

        for engine in self._engines.values():
            close = getattr(engine, "aclose", None)
            if callable(close):
                await close()
        for tools in self._tools.values():
            await aclose_tools(tools)


def _default_engine(model: str | None, config: AskConfig) -> InferenceEngine:
    from asearcher.engines.factory import make_engine

    return make_engine(model, config=config.engine)


def _default_tools(retriever: str | None, config: AskConfig) -> dict[str, Tool]:
    from asearcher.tools.factory import make_tools

    return make_tools(retriever, config.tools)
