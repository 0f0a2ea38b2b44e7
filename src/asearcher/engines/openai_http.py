"""OpenAI-compatible HTTP engine: vLLM, SGLang, llama.cpp / xllamacpp servers, hosted APIs.

Two modes. `chat` posts messages to /v1/chat/completions (tools passed through; native tool calls
returned). `completions` posts token ids as the prompt to /v1/completions (token-in/token-out, what
training needs; vLLM, SGLang and llama.cpp accept an id list as `prompt`). Sampled ids are read from
whichever shape the server uses: vLLM's `return_tokens_as_token_ids` ("token_id:123" strings),
`choices[].token_ids` (vLLM `return_token_ids`), or llama.cpp's per-token `id` fields; without ids
(hosted APIs) `output_ids` stays empty and the result cannot be trained on.

The API key comes from the environment variable named in the config and is never logged or shown.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import httpx

from asearcher.api.engine import ContextLimitError, GenRequest, GenResult
from asearcher.engines.config import EngineConfig
from asearcher.engines.limits import context_length_from_models, context_length_from_props, is_context_overflow
from asearcher.redact import redact_text

log = logging.getLogger(__name__)


class HTTPEngineError(RuntimeError):
    """The server refused a request (4xx) or kept failing after the retries."""


class HTTPContextLimit(HTTPEngineError, ContextLimitError):
    """The server refused the request because it exceeds the model's context window."""


class OpenAIEngine:
    """`InferenceEngine` over an OpenAI-compatible server at `base_url` (with or without /v1)."""

    def __init__(self, base_url: str, config: EngineConfig | None = None, tokenizer: Any = None) -> None:
        self.config = config or EngineConfig()
        # A query string (`?api_key=...` for some proxies) goes with every request, after the path.
        parts = urlsplit(base_url)
        base = urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))
        self.base_url = base if base.endswith("/v1") else base + "/v1"
        self.tokenizer = tokenizer
        self.version = 0
        self.model = self.config.model
        self._context_length: int | None = None
        self._context_probed = False
        headers = {}
        key = os.environ.get(self.config.api_key_env, "")
        if key:
            headers["Authorization"] = f"Bearer {key}"
        timeout = httpx.Timeout(self.config.timeout_s, connect=self.config.connect_timeout_s)
        self._client = httpx.AsyncClient(headers=headers, timeout=timeout, params=parse_qsl(parts.query) or None)

    def __repr__(self) -> str:  # never shows the key, nor credentials in the URL
        return f"OpenAIEngine({redact_text(self.base_url)!r}, model={self.model!r}, mode={self.config.mode!r})"

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._client.aclose()

    async def agenerate(self, request: GenRequest) -> GenResult:
        """Generate via the server: /completions for `input_ids`, /chat/completions for `messages`."""
        start = time.perf_counter()
        model = self.model or await self._amodel_name()
        # Ids always go to /completions; messages too when a local tokenizer can render them and the
        # mode asks for token-in/token-out (then output ids and logprobs are exact for training).
        tokenize_here = self.config.mode == "completions" and self.tokenizer is not None and not request.tools
        if request.messages is not None and not tokenize_here:
            result = await self._achat(request, model)
        else:
            result = await self._acompletions(request, model)
        result.latency_s = time.perf_counter() - start
        return result

    async def acontext_length(self) -> int | None:
        """The context length the server states: /v1/models (vLLM, SGLang and others list
        `max_model_len` or similar), else llama.cpp's /props (per slot); None when it does not tell.
        Asked once; a server that cannot be asked now is reported as not telling."""
        if not self._context_probed:
            self._context_probed = True
            self._context_length = await self._aprobe_context_length()
        return self._context_length

    async def _aprobe_context_length(self) -> int | None:
        root = self.base_url.removesuffix("/v1")
        for url, read in ((self.base_url + "/models", lambda d: context_length_from_models(d, self.model)),
                          (root + "/props", context_length_from_props)):
            try:
                resp = await self._client.get(url, timeout=self.config.connect_timeout_s)
                found = read(resp.json()) if resp.status_code == 200 else None
            except (httpx.HTTPError, ValueError) as e:
                log.debug("%s: %s", url, e)
                continue
            if found is not None:
                return found
        return None

    # ---- request shapes ---------------------------------------------------------------------

    def _sampling(self, request: GenRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "max_tokens": request.max_new_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
        }
        if request.stop:
            body["stop"] = request.stop
        if request.seed is not None:
            body["seed"] = request.seed
        return body

    async def _achat(self, request: GenRequest, model: str) -> GenResult:
        body = {"model": model, "messages": request.messages, **self._sampling(request)}
        if request.tools:
            body["tools"] = request.tools
        if self.config.logprobs:
            body.update(logprobs=True, top_logprobs=0, return_tokens_as_token_ids=True)
        data = await self._apost("/chat/completions", body)
        choice = data["choices"][0]
        message = choice.get("message") or {}
        entries = ((choice.get("logprobs") or {}).get("content")) or []
        ids, logprobs = _ids_and_logprobs(entries, choice)
        return GenResult(
            output_ids=ids,
            text=message.get("content") or "",
            logprobs=logprobs,
            versions=[self.version] * len(ids),
            finish_reason=_finish(choice.get("finish_reason")),
            tool_calls=list(message.get("tool_calls") or []),
        )

    async def _acompletions(self, request: GenRequest, model: str) -> GenResult:
        prompt = request.input_ids if request.input_ids is not None else self.tokenizer.chat_ids(request.messages)
        body = {"model": model, "prompt": list(prompt), **self._sampling(request)}
        if self.config.logprobs:
            body.update(logprobs=1, return_tokens_as_token_ids=True, return_token_ids=True)
        data = await self._apost("/completions", body)
        choice = data["choices"][0]
        lp = choice.get("logprobs") or {}
        if "tokens" in lp:  # the legacy completions shape: parallel lists
            entries = [{"token": t, "logprob": p} for t, p in zip(lp["tokens"], lp.get("token_logprobs") or [])]
        else:  # llama.cpp answers completions with the chat shape
            entries = lp.get("content") or []
        ids, logprobs = _ids_and_logprobs(entries, choice)
        text = choice.get("text") or ""
        if ids and self.tokenizer is not None:
            # Servers drop special tokens (EOS) from `text`; decoding the ids keeps text == decode(ids),
            # as with the in-process engine.
            text = self.tokenizer.decode(ids)
        return GenResult(
            output_ids=ids,
            text=text,
            logprobs=logprobs,
            versions=[self.version] * len(ids),
            finish_reason=_finish(choice.get("finish_reason")),
        )

    # ---- transport --------------------------------------------------------------------------

    async def _amodel_name(self) -> str:
        """The first model the server lists (servers that host one model need no name)."""
        resp = await self._client.get(self.base_url + "/models")
        _raise_for_status(resp, "/models")
        models = resp.json().get("data") or []
        if not models:
            raise HTTPEngineError(f"{self.base_url}/models lists no model; set the engine's `model`")
        self.model = models[0]["id"]
        return self.model

    async def _apost(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST with bounded retries (exponential backoff) on transport errors and 5xx; a 4xx raises."""
        return await apost_json(self._client, self.base_url + path, body,
                                retries=self.config.retries, backoff_s=self.config.retry_backoff_s)


async def apost_json(
    client: httpx.AsyncClient,
    url: str,
    body: dict[str, Any],
    *,
    retries: int,
    backoff_s: float,
    exhausted: type[HTTPEngineError] = HTTPEngineError,
) -> dict[str, Any]:
    """POST JSON to a model server: bounded retries with exponential backoff on transport errors and
    5xx (then `exhausted` is raised); a 4xx raises HTTPEngineError with the server's message, unretried.
    A read timeout is not retried either: the server took the request and is still working on it, so
    sending it again only doubles the wait (4 x 300 s per call, measured with a loaded llama.cpp).
    Shared by every HTTP engine so they cannot drift in what they retry."""
    delay = backoff_s
    for attempt in range(retries + 1):
        try:
            resp = await client.post(url, json=body)
        except httpx.ReadTimeout as exc:
            raise exhausted(f"POST {url}: no reply within the read timeout ({exc!r}); not retried") from None
        except httpx.TransportError as exc:
            problem = f"{type(exc).__name__}: {exc}"
        else:
            if resp.status_code < 400:
                return resp.json() if resp.content else {}
            if resp.status_code < 500:
                _raise_for_status(resp, url)
            problem = f"HTTP {resp.status_code}: {_server_message(resp)}"
        if attempt == retries:
            raise exhausted(f"POST {url} failed after {attempt + 1} attempts; last: {problem}")
        log.warning("POST %s: %s; retry %d/%d in %.1f s", url, problem, attempt + 1, retries, delay)
        await asyncio.sleep(delay)
        delay *= 2
    raise AssertionError("unreachable")


def _raise_for_status(resp: httpx.Response, path: str) -> None:
    if resp.status_code >= 400:
        raise_refusal(f"{path}: HTTP {resp.status_code} from {resp.url}: {_server_message(resp)}")


def raise_refusal(message: str) -> None:
    """Raise a server's refusal: HTTPContextLimit when it says the request is too long, else HTTPEngineError."""
    raise (HTTPContextLimit if is_context_overflow(message) else HTTPEngineError)(message)


def _server_message(resp: httpx.Response) -> str:
    """The server's own error message (OpenAI shape `{"error": {"message": ...}}`), else its body."""
    try:
        data = resp.json()
    except ValueError:
        return resp.text[:500]
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict) and err.get("message"):
        return str(err["message"])
    return str(data)[:500]


def _token_id(entry: dict[str, Any]) -> int | None:
    if isinstance(entry.get("id"), int):  # llama.cpp
        return entry["id"]
    token = entry.get("token")
    if isinstance(token, str) and token.startswith("token_id:"):  # vLLM return_tokens_as_token_ids
        return int(token.split(":", 1)[1])
    return None


def _ids_and_logprobs(entries: list[dict[str, Any]], choice: dict[str, Any]) -> tuple[list[int], list[float]]:
    """Sampled ids and their logprobs from per-token entries; ids only when the server gave all of them."""
    logprobs = [float(e["logprob"]) for e in entries if e.get("logprob") is not None]
    ids = [_token_id(e) for e in entries]
    if entries and all(i is not None for i in ids):
        return ids, logprobs  # type: ignore[return-value]
    if isinstance(choice.get("token_ids"), list):  # vLLM return_token_ids
        return list(choice["token_ids"]), logprobs if len(logprobs) == len(choice["token_ids"]) else []
    return [], []


def _finish(reason: str | None) -> str:
    return "length" if reason == "length" else "stop"
