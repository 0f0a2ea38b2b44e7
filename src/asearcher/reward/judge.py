"""LLM-as-judge: asks a chat model whether a prediction matches the gold answers; cached on disk.

The judge is any `InferenceEngine` used in messages mode (in practice an OpenAI-compatible server).
Verdicts are cached in SQLite keyed by a hash of (question, golds, prediction, judge model, prompt
version), so re-running an evaluation makes no judge calls. SQLite in WAL mode keeps the cache safe
when several processes share it; within one process, identical concurrent requests share one call.

As in ASearcher's evaluation, a judgement that fails (no parseable verdict after a bounded number of
attempts, or the judge unreachable) counts as incorrect rather than leaving the denominator, and a
long prediction is cut before it is shown to the judge (at its first closing tag "</", then to
`max_prediction_chars`, 500 by default like ASearcher's evaluation).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from asearcher.api.engine import GenRequest, InferenceEngine

logger = logging.getLogger(__name__)

PROMPT_VERSION = "judge-v1"

_SYSTEM = (
    "You grade answers to factual questions. You are given a question, one or more acceptable "
    "reference answers (aliases of the same fact) and a candidate answer. The candidate is correct "
    "when it states the same fact as any reference, allowing for different wording, spelling, "
    "abbreviations or extra harmless detail; it is incorrect when it names a different entity, "
    "a different number or date, hedges between several answers, or gives no answer. If the "
    "question itself is unanswerable or the references are clearly wrong, say invalid."
)

_USER = (
    "Question: {question}\n"
    "Reference answers: {golds}\n"
    "Candidate answer: {prediction}\n\n"
    "First write one or two sentences of rationale after 'Rationale:'. Then, on the last line, "
    "write exactly 'Verdict: correct', 'Verdict: incorrect' or 'Verdict: invalid'."
)

_WORDS = {
    "correct": "correct",
    "incorrect": "incorrect",
    "invalid": "invalid",
    "yes": "correct",
    "no": "incorrect",
    "true": "correct",
    "false": "incorrect",
    "right": "correct",
    "wrong": "incorrect",
}
_WORD_ALT = "|".join(sorted(_WORDS, key=len, reverse=True))
# "Verdict: correct", "verdict = **Incorrect**", JSON {"verdict": "correct"}, "Final verdict - yes".
_EXPLICIT = re.compile(rf"verdict\W{{0,6}}\s*[:=\-]\s*[\"'*_`\s]*({_WORD_ALT})\b", re.IGNORECASE)
_BOLD = re.compile(rf"(?:\*\*|__)\s*({_WORD_ALT})\s*[.!]?\s*(?:\*\*|__)", re.IGNORECASE)


def parse_verdict(text: str) -> str | None:
    """The verdict in a judge reply: "correct", "incorrect", "invalid", or None if unparseable.

    The last explicit verdict wins (models often restate their decision at the end). Accepted:
    "Verdict: correct", JSON {"verdict": "incorrect"}, a bold **Correct**, a final line that is
    just a verdict word, and yes/no/true/false as synonyms.

    >>> parse_verdict("Rationale: same city.\\nVerdict: Correct")
    'correct'
    >>> parse_verdict("The answer looks wrong at first... **Incorrect**") is None
    False
    """
    if not text:
        return None
    hits = _EXPLICIT.findall(text)
    if hits:
        return _WORDS[hits[-1].lower()]
    for line in reversed([ln for ln in text.splitlines() if ln.strip()]):
        word = re.sub(r"[^a-z]", "", line.lower())
        if word in _WORDS:
            return _WORDS[word]
        break  # only the very last non-empty line may be a bare verdict
    bold = _BOLD.findall(text)
    if bold:
        return _WORDS[bold[-1].lower()]
    return None


@dataclass(slots=True)
class JudgeVerdict:
    """One judgement.

    Attributes:
        verdict: "correct", "incorrect", "invalid", or None when the judgement failed (no parseable
            verdict after every attempt, or the judge could not be reached).
        raw: the judge's last reply (kept so an unparseable one can be inspected).
        cached: True when it came from the disk cache (no engine call was made).
        attempts: engine calls this judgement made (0 for a cache hit or an empty prediction).
        error: the last engine error when the judge could not be reached ("" otherwise).
    """

    verdict: str | None
    raw: str
    cached: bool = False
    attempts: int = 0
    error: str = ""

    @property
    def failed(self) -> bool:
        """True when no verdict could be obtained."""
        return self.verdict is None

    @property
    def score(self) -> float:
        """1.0 for correct; 0.0 for everything else: incorrect, invalid and failed all count as wrong."""
        return 1.0 if self.verdict == "correct" else 0.0


def cache_key(question: str, golds: list[str], prediction: str, model: str, prompt_version: str) -> str:
    """Stable hash of everything that can change a verdict."""
    blob = json.dumps([question, list(golds), prediction, model, prompt_version], ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


class JudgeCache:
    """SQLite table key -> (verdict, raw). WAL mode, one connection per thread."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._conn() as c:
            c.execute("CREATE TABLE IF NOT EXISTS verdicts (key TEXT PRIMARY KEY, verdict TEXT, raw TEXT)")

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            self._local.conn = conn
        return conn

    def get(self, key: str) -> JudgeVerdict | None:
        row = self._conn().execute("SELECT verdict, raw FROM verdicts WHERE key = ?", (key,)).fetchone()
        return None if row is None else JudgeVerdict(verdict=row[0], raw=row[1], cached=True)

    def put(self, key: str, v: JudgeVerdict) -> None:
        with self._conn() as c:
            c.execute("INSERT OR REPLACE INTO verdicts VALUES (?, ?, ?)", (key, v.verdict, v.raw))

    def __len__(self) -> int:
        return self._conn().execute("SELECT COUNT(*) FROM verdicts").fetchone()[0]


def clip_prediction(prediction: str, max_chars: int) -> str:
    """What the judge sees of a prediction: cut at its first closing tag "</" (trailing tag debris
    from a malformed reply), then to `max_chars` characters.

    >>> clip_prediction("Paris</answer> and more", 500)
    'Paris'
    """
    return prediction.split("</", 1)[0][:max_chars]


class LLMJudge:
    """Grades predictions with a chat model.

    Args:
        engine: the judge model (messages mode).
        model: the judge model's name; part of the cache key, so a different judge re-grades.
        cache_path: SQLite file for the cache; None disables caching.
        max_new_tokens: room for the rationale and the verdict.
        max_attempts: engine calls per judgement at most; the first is greedy, the retries sample at
            `retry_temperature` so that an unparseable reply is not simply repeated.
        retry_temperature: sampling temperature of the retries (ASearcher's judge samples at 0.6).
        max_prediction_chars: predictions are cut to this many characters (see `clip_prediction`).
        retry_backoff_s: pause before retrying after an engine error, times the attempt number.
    """

    def __init__(
        self,
        engine: InferenceEngine,
        model: str,
        cache_path: str | Path | None = None,
        max_new_tokens: int = 256,
        *,
        max_attempts: int = 3,
        retry_temperature: float = 0.6,
        max_prediction_chars: int = 500,
        retry_backoff_s: float = 1.0,
    ) -> None:
        if max_attempts < 1 or max_prediction_chars < 1:
            raise ValueError(f"max_attempts and max_prediction_chars must be >= 1, got {max_attempts}, "
                             f"{max_prediction_chars}")
        self.engine = engine
        self.model = model
        self.cache = JudgeCache(cache_path) if cache_path else None
        self.max_new_tokens = max_new_tokens
        self.max_attempts = max_attempts
        self.retry_temperature = retry_temperature
        self.max_prediction_chars = max_prediction_chars
        self.retry_backoff_s = retry_backoff_s
        self.calls = 0  # engine calls made (cache hits excluded), retries included
        self.retries = 0  # engine calls beyond the first of a judgement
        self.failed = 0  # judgements that ended without a verdict (scored as incorrect)
        self._inflight: dict[str, asyncio.Future[JudgeVerdict]] = {}

    def messages(self, question: str, golds: list[str], prediction: str) -> list[dict[str, str]]:
        """The chat sent to the judge."""
        user = _USER.format(question=question, golds=" | ".join(golds), prediction=prediction or "(no answer)")
        return [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": user}]

    async def ajudge(self, question: str, golds: list[str], prediction: str | None) -> JudgeVerdict:
        """Judge one prediction; a missing prediction is incorrect without asking the model."""
        if prediction is None or not prediction.strip():
            return JudgeVerdict(verdict="incorrect", raw="(no prediction)")
        prediction = clip_prediction(prediction, self.max_prediction_chars)
        key = cache_key(question, golds, prediction, self.model, PROMPT_VERSION)
        if self.cache is not None and (hit := self.cache.get(key)) is not None:
            return hit
        if key in self._inflight:  # the same question is being judged right now: share the call
            return await asyncio.shield(self._inflight[key])
        fut: asyncio.Future[JudgeVerdict] = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        try:
            verdict = await self._attempts(question, golds, prediction)
            if verdict.failed:
                self.failed += 1
                logger.warning("judge gave no verdict for %r after %d attempts (scored incorrect): %s",
                               question[:80], verdict.attempts, verdict.error or repr(verdict.raw[:200]))
            elif self.cache is not None:  # a failed judgement is not cached: a rerun may succeed
                self.cache.put(key, verdict)
            fut.set_result(verdict)
            return verdict
        except asyncio.CancelledError:
            fut.cancel()
            raise
        except Exception as e:
            fut.set_exception(e)
            fut.exception()  # mark retrieved: no "exception never retrieved" noise when unshared
            raise
        finally:
            del self._inflight[key]

    async def _attempts(self, question: str, golds: list[str], prediction: str) -> JudgeVerdict:
        """Up to `max_attempts` engine calls until one reply parses; engine errors are retried too
        (the judge is a network service), and after the last attempt they become a failed verdict."""
        raw, error = "", ""
        for attempt in range(self.max_attempts):
            if attempt:
                self.retries += 1
            req = GenRequest(
                messages=self.messages(question, golds, prediction),
                max_new_tokens=self.max_new_tokens,
                temperature=self.retry_temperature if attempt else 0.0,
            )
            self.calls += 1
            try:
                result = await self.engine.agenerate(req)
            except Exception as e:  # noqa: BLE001 - a remote judge's failure is retried, then scored
                error = f"{type(e).__name__}: {e}"
                logger.warning("judge call %d/%d failed: %s", attempt + 1, self.max_attempts, error)
                if attempt + 1 < self.max_attempts:
                    await asyncio.sleep(self.retry_backoff_s * (attempt + 1))
                continue
            raw, error = result.text, ""
            if (verdict := parse_verdict(raw)) is not None:
                return JudgeVerdict(verdict=verdict, raw=raw, attempts=attempt + 1)
        return JudgeVerdict(verdict=None, raw=raw, attempts=self.max_attempts, error=error)
