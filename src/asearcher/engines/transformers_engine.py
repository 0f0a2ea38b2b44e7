"""In-process transformers engine: batched generation with a KV cache, exact behaviour logprobs,
per-token policy versions, weights replaceable in place, and interruptible generation.

This is the engine the CPU RL trainer samples from. A background asyncio task runs a step loop; each
step (in a worker thread, so the event loop stays free for tools and HTTP) either prefills newly
admitted requests or decodes one token for every active request (see `kv_batch.KVBatch`).
`aupdate_weights` takes the step lock, so it lands between two steps; in-flight requests then
continue under the new weights after a re-prefill of prompt + partial output (their cache belongs to
the old weights), which is how one output can carry tokens of two versions. A finished request leaves
its keys/values in a `PrefixCache`, so an agent's next turn (the same context + output + observation)
runs only its new tokens; the cache is emptied when the weights change.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from asearcher.api.engine import FinishReason, GenRequest, GenResult
from asearcher.engines.config import EngineConfig
from asearcher.engines.kv_batch import KVBatch
from asearcher.engines.prefix_cache import PrefixCache, PrefixEntry
from asearcher.engines.sampling import sample_token

log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Seq:
    """One request in flight; `out`, `logprobs` and `versions` grow by one per sampled token."""

    rid: str
    request: GenRequest
    prompt: list[int]
    generator: torch.Generator
    future: asyncio.Future
    start: float
    out: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    versions: list[int] = field(default_factory=list)
    finish: FinishReason | None = None
    aborted: bool = False
    prefix: PrefixEntry | None = None  # the cached prefix it was prefilled from


class TransformersEngine:
    """`InferenceEngine` over a transformers causal LM held in this process.

    Args:
        model: a transformers causal LM (eval mode; its device is used).
        tokenizer: an `api.Tokenizer` (HFTokenizer, or ByteTokenizer for tiny test models).
        max_batch_size: most sequences decoded together.
        seed: seeds the per-request sampler of requests that carry no `seed`.
        prefix_cache_tokens: tokens of finished requests' keys/values kept for reuse (0: no prefix cache).
    """

    def __init__(self, model: Any, tokenizer: Any, *, max_batch_size: int = 8, seed: int = 0,
                 prefix_cache_tokens: int = 32768) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.version = 0
        self.max_batch_size = max_batch_size
        self._rng = random.Random(seed)
        self._pad_id = getattr(tokenizer, "pad_token_id", None) or tokenizer.eos_token_id or 0
        self._max_stop_scan = 0
        self._waiting: list[_Seq] = []
        self._active: list[_Seq] = []
        self._batch: KVBatch | None = None
        self._stale = False  # weights changed: every active row must be re-prefilled
        if prefix_cache_tokens and _has_sliding_window(model):
            # Reused prefixes leave masked columns before new tokens; a window counted in columns would
            # then cover fewer real tokens than the model was trained with.
            log.info("prefix cache off: the model uses sliding-window attention")
            prefix_cache_tokens = 0
        self.prefix_cache = PrefixCache(prefix_cache_tokens)
        self.prefill_tokens = 0  # token positions run through the model by prefills (padding included)
        self.reused_tokens = 0  # prompt tokens taken from the prefix cache instead
        self._loop_task: asyncio.Task | None = None
        self._lock: asyncio.Lock | None = None
        self._wake: asyncio.Event | None = None

    @classmethod
    def from_path(cls, path: str | Path, config: EngineConfig | None = None) -> TransformersEngine:
        """Load a model folder or .gguf file (see `embedded.load_causal_lm`) into an engine."""
        from asearcher.engines.embedded import load_causal_lm

        config = config or EngineConfig()
        model, tok = load_causal_lm(path, device=config.device, dtype=config.dtype)
        return cls(model, tok, max_batch_size=config.max_batch_size, seed=config.seed,
                   prefix_cache_tokens=config.prefix_cache_tokens)

    def __repr__(self) -> str:
        name = getattr(self.model.config, "_name_or_path", "") or type(self.model).__name__
        return f"TransformersEngine({name!r}, device={self.model.device}, version={self.version})"

    # ---- public API -------------------------------------------------------------------------

    async def agenerate(self, request: GenRequest) -> GenResult:
        """Generate for `request`; resolves when it stops, hits max_new_tokens, or is aborted."""
        if request.tools:
            raise ValueError("TransformersEngine has no native function calling; put tools in the prompt")
        prompt = request.input_ids if request.input_ids is not None else self.tokenizer.chat_ids(request.messages)
        if not prompt:
            raise ValueError("TransformersEngine needs a non-empty prompt")
        self._ensure_loop()
        seed = request.seed if request.seed is not None else self._rng.randrange(2**62)
        gen = torch.Generator(device=self.model.device).manual_seed(seed)
        seq = _Seq(
            rid=request.rid or uuid.uuid4().hex,
            request=request,
            prompt=list(prompt),
            generator=gen,
            future=asyncio.get_running_loop().create_future(),
            start=time.perf_counter(),
        )
        self._waiting.append(seq)
        self._wake.set()
        return await seq.future

    async def acontext_length(self) -> int | None:
        """The model's position limit (`max_position_embeddings` in its config), None when it has none."""
        n = getattr(self.model.config, "max_position_embeddings", None)
        return n if isinstance(n, int) and n > 0 else None

    def abort(self, rid: str) -> bool:
        """Stop request `rid`; its `agenerate` returns the partial output with finish_reason "abort".

        Takes effect at the next step boundary. Returns False when no such request is in flight.
        """
        for seq in self._waiting:
            if seq.rid == rid:
                self._waiting.remove(seq)
                seq.finish = "abort"
                self._resolve(seq)
                return True
        for seq in self._active:
            if seq.rid == rid:
                seq.aborted = True
                if self._wake is not None:
                    self._wake.set()
                return True
        return False

    async def aupdate_weights(self, source: dict[str, torch.Tensor] | str | Path, version: int) -> None:
        """Replace the weights in place between two steps and set `version`; generations in flight
        resume under the new weights (their later tokens carry the new version).

        `source`: a state dict, a model folder, or a .safetensors file.
        """
        self._ensure_loop()
        async with self._lock:
            start = time.perf_counter()
            try:
                await asyncio.to_thread(self._load_weights, source)
            finally:  # even a failed load may have copied some tensors: no cached key/value is trusted
                self._stale = True
                self.prefix_cache.clear()  # its keys/values were computed by the old weights
            self.version = version
            log.info("weights updated to version %d in %.2f s", version, time.perf_counter() - start)

    async def aclose(self) -> None:
        """Stop the step loop; requests still in flight fail with CancelledError."""
        if self._loop_task is not None:
            self._loop_task.cancel()
            try:
                await self._loop_task
            except asyncio.CancelledError:
                pass
            self._loop_task = None
        for seq in self._waiting + self._active:
            if not seq.future.done():
                seq.future.cancel()
        self._waiting, self._active, self._batch = [], [], None

    # ---- scheduler ----------------------------------------------------------------------------

    def _ensure_loop(self) -> None:
        """Start the step loop on the running event loop (again, if an earlier loop has closed)."""
        running = asyncio.get_running_loop()
        if self._loop_task is None or self._loop_task.done() or self._loop_task.get_loop() is not running:
            self._lock, self._wake = asyncio.Lock(), asyncio.Event()
            self._waiting, self._active, self._batch = [], [], None
            self._loop_task = running.create_task(self._run(), name="transformers-engine-steps")

    async def _run(self) -> None:
        while True:
            if not self._waiting and not self._active:
                self._wake.clear()
                await self._wake.wait()
                continue
            async with self._lock:
                room = self.max_batch_size - len(self._active)
                admit, self._waiting = self._waiting[:room], self._waiting[room:]
                try:
                    finished = await asyncio.to_thread(self._step, admit)
                except Exception as exc:  # a failed forward pass must not hang every caller
                    log.exception("generation step failed; failing %d requests", len(self._active) + len(admit))
                    for seq in self._active + admit:
                        if not seq.future.done():
                            seq.future.set_exception(exc)
                    self._active, self._batch = [], None
                    continue
            for seq in finished:
                self._resolve(seq)

    def _resolve(self, seq: _Seq) -> None:
        if seq.future.done():
            return
        seq.future.set_result(
            GenResult(
                output_ids=list(seq.out),
                text=self.tokenizer.decode(seq.out),
                logprobs=list(seq.logprobs),
                versions=list(seq.versions),
                finish_reason=seq.finish or "abort",
                latency_s=time.perf_counter() - seq.start,
            )
        )

    @torch.no_grad()
    def _step(self, admit: list[_Seq]) -> list[_Seq]:
        """One scheduler step (worker thread): drop aborted rows, then prefill or decode once."""
        finished = [s for s in self._active if s.aborted]
        for s in finished:
            s.finish = "abort"
        self._retire(finished)
        self._keep([s for s in self._active if not s.aborted])
        if self._stale and self._active:
            # Old KV entries belong to the old weights: rebuild every row from its tokens.
            admit = self._active + admit
            self._active, self._batch = [], None
        self._stale = False
        if admit:
            stepped, logits = self._prefill(admit)
        elif self._active:
            logits = self._batch.decode(self.model, [s.out[-1] for s in self._active])
            stepped = self._active
        else:
            return finished
        for seq, row in zip(stepped, logits, strict=True):
            self._append(seq, row)
        done = [s for s in self._active if s.finish is not None]
        self._retire(done)
        self._keep([s for s in self._active if s.finish is None])
        return finished + done

    def _prefill(self, admit: list[_Seq]) -> tuple[list[_Seq], torch.Tensor]:
        """Add `admit` to the batch: rows with a cached prefix of n tokens run only the rest, the others
        their whole context (n = 0); each kind in length groups. Returns the rows in batch order and their
        logits."""
        rows = []
        for seq in admit:
            ctx = seq.prompt + seq.out
            seq.prefix, n = self.prefix_cache.lookup(ctx)
            rows.append((seq, ctx, n))
        stepped, logits = [], []
        for reused in (False, True):
            kind = [r for r in rows if (r[0].prefix is not None) == reused]
            for group in prefill_groups([len(ctx) - n for _, ctx, n in kind]):
                part = [kind[i] for i in group]
                if reused:
                    batch, out = KVBatch.prefill_after(self.model, [(s.prefix.keys, s.prefix.values, n) for s, _, n in part],
                                                       [ctx[n:] for _, ctx, n in part], self._pad_id)
                else:
                    batch, out = KVBatch.prefill(self.model, [ctx for _, ctx, _ in part], self._pad_id)
                self.prefill_tokens += len(part) * max(len(ctx) - n for _, ctx, n in part)
                self.reused_tokens += sum(n for _, _, n in part)
                self._join(batch, [seq for seq, _, _ in part], stepped)
                logits.append(out)
        return stepped, torch.cat(logits, 0)

    def _join(self, batch: KVBatch, seqs: list[_Seq], stepped: list[_Seq]) -> None:
        if self._batch is None:
            self._batch = batch
        else:
            self._batch.extend(batch)
        self._active.extend(seqs)
        stepped.extend(seqs)

    def _retire(self, seqs: list[_Seq]) -> None:
        """Keep the keys/values of rows about to leave the batch in the prefix cache (not when they
        belong to weights that have just been replaced)."""
        if self._stale or not self.prefix_cache.enabled or not seqs:
            return
        index = {id(s): i for i, s in enumerate(self._active)}
        for seq in seqs:
            row = index.get(id(seq))
            if row is None or not seq.out:
                continue
            keys, values = self._batch.row_kv(row)
            ids = (seq.prompt + seq.out)[:-1]  # the cache holds all but the newest token
            if keys[0].shape[2] == len(ids):
                self.prefix_cache.store(ids, keys, values, replaces=seq.prefix)
            else:
                log.warning("prefix cache: row of %d cached tokens for %d ids; not kept", keys[0].shape[2], len(ids))

    def _keep(self, keep: list[_Seq]) -> None:
        """Shrink the active set (and the cache rows) to `keep`, preserving order."""
        if len(keep) == len(self._active):
            return
        if not keep:
            self._active, self._batch = [], None
            return
        rows = {id(s): i for i, s in enumerate(self._active)}
        self._batch.select([rows[id(s)] for s in keep])
        self._active = keep

    def _append(self, seq: _Seq, logits: torch.Tensor) -> None:
        req = seq.request
        token, logprob = sample_token(logits, req.temperature, req.top_p, seq.generator)
        seq.out.append(token)
        seq.logprobs.append(logprob)
        seq.versions.append(self.version)
        if token == self.tokenizer.eos_token_id or self._hit_stop(seq):
            seq.finish = "stop"
        elif len(seq.out) >= req.max_new_tokens:
            seq.finish = "length"

    def _hit_stop(self, seq: _Seq) -> bool:
        """Whether a stop string appears in the text of the newest tokens.

        Only the tail is decoded: a stop string of n characters spans at most n tokens (plus one for a
        token split mid-character), and one lying wholly in earlier tokens was caught earlier.
        """
        stops = [s for s in seq.request.stop if s]
        if not stops:
            return False
        tail = self.tokenizer.decode(seq.out[-(max(len(s) for s in stops) + 1) :])
        return any(s in tail for s in stops)

    def _load_weights(self, source: dict[str, torch.Tensor] | str | Path) -> None:
        if isinstance(source, dict):
            state = source
        else:
            state = _read_state_dict(Path(source))
        with torch.no_grad():
            # load_state_dict copies into the existing parameters: the model object stays the same.
            result = self.model.load_state_dict(state, strict=False)
        missing = set(result.missing_keys)
        if getattr(self.model.config, "tie_word_embeddings", False):
            missing.discard("lm_head.weight")  # tied to the embeddings, often absent from checkpoints
        if missing or result.unexpected_keys:
            raise ValueError(
                f"weights do not match the model: missing {sorted(missing)[:5]}, "
                f"unexpected {sorted(result.unexpected_keys)[:5]}"
            )


def prefill_groups(lengths: list[int], max_waste: float = 0.25) -> list[list[int]]:
    """Indices of `lengths` grouped for batched prefill: sorted by length, a group grows while its
    left padding stays within `max_waste` of its real tokens. One padded batch of a 35-token prompt
    and a 2,000-token context would spend ~98% of the short row's compute on padding."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    groups: list[list[int]] = []
    for i in order:
        g = groups[-1] if groups else None
        if g is not None:
            real = sum(lengths[j] for j in g) + lengths[i]
            padded = lengths[i] * (len(g) + 1)  # i is the longest so far
            if padded - real <= max_waste * real:
                g.append(i)
                continue
        groups.append([i])
    return groups


def _has_sliding_window(model: Any) -> bool:
    config = getattr(model, "config", None)
    return "sliding_attention" in (getattr(config, "layer_types", None) or []) or bool(
        getattr(config, "use_sliding_window", False) and getattr(config, "sliding_window", None))


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a .safetensors file or of every *.safetensors file in a model folder."""
    from safetensors.torch import load_file

    from asearcher.errors import UserError

    files = sorted(path.glob("*.safetensors")) if path.is_dir() else [path]
    if not files or not all(f.is_file() for f in files):
        raise UserError(f"no .safetensors weights found at {str(path)!r}")
    state: dict[str, torch.Tensor] = {}
    for f in files:
        state.update(load_file(str(f)))
    return state
