"""Prefix KV cache of the in-process engine: the keys and values of finished requests, reused by later
requests whose prompt starts with the same tokens.

An agent's context only grows: turn k + 1's prompt is turn k's prompt + output + the tool's
observation. Without this cache every turn re-runs the whole context through the model (a 10-turn
episode prefills its first tokens ten times). Entries belong to one set of weights: the engine clears
the cache when its weights change. Memory is bounded by `max_tokens` (least recently used entries go
first); one token costs layers x 2 x kv_heads x head_dim x dtype bytes (SmolLM2-135M in bf16: 23 KB).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(eq=False)
class PrefixEntry:
    """Tokens and their per-layer keys / values ([1, kv_heads, len(ids), head_dim] each)."""

    ids: np.ndarray
    keys: list[torch.Tensor]
    values: list[torch.Tensor]

    def __len__(self) -> int:
        return len(self.ids)


class PrefixCache:
    """LRU store of `PrefixEntry`s with longest-common-prefix lookup.

    Lookup is by chained hashes of whole `block`-token blocks (as vLLM's prefix caching does): the
    longest block-prefix of the context that some entry registered names a candidate, whose common
    prefix with the context is then measured token by token (so a hash collision costs a miss, never a
    wrong reuse). Cost: O(context length) per lookup, whatever the number of entries.

    Args:
        max_tokens: most tokens held over all entries (0 disables the cache).
        block: hash granularity; also the shortest prefix worth reusing.
    """

    def __init__(self, max_tokens: int, block: int = 16) -> None:
        if max_tokens < 0:
            raise ValueError(f"max_tokens must be >= 0, got {max_tokens}")
        if block < 1:
            raise ValueError(f"block must be >= 1, got {block}")
        self.max_tokens = max_tokens
        self.block = block
        self._entries: OrderedDict[int, PrefixEntry] = OrderedDict()
        self._by_hash: dict[int, PrefixEntry] = {}  # block-prefix hash -> newest entry that has it
        self._tokens = 0

    @property
    def enabled(self) -> bool:
        return self.max_tokens > 0

    @property
    def tokens(self) -> int:
        """Tokens held now."""
        return self._tokens

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, context: list[int]) -> tuple[PrefixEntry | None, int]:
        """The entry sharing the longest prefix with `context` and that prefix's length, capped at
        len(context) - 1 (the last token must be run to get next-token logits); (None, 0) for no
        shared block."""
        if not self._entries:
            return None, 0
        ctx = np.asarray(context, dtype=np.int64)
        for h in reversed(self._hashes(ctx[: len(ctx) - 1])):
            entry = self._by_hash.get(h)
            if entry is None:
                continue
            n = min(len(entry), len(ctx) - 1)
            same = entry.ids[:n] == ctx[:n]
            length = n if same.all() else int(same.argmin())
            if length < self.block:
                return None, 0  # a hash collision
            self._entries.move_to_end(id(entry))
            return entry, length
        return None, 0

    def store(self, ids: list[int], keys: list[torch.Tensor], values: list[torch.Tensor],
              replaces: PrefixEntry | None = None) -> None:
        """Add an entry for `ids`; `replaces` (the entry this request started from) is dropped when the
        new one extends it, since every later match of it also matches the new one."""
        if not self.enabled or len(ids) < self.block or len(ids) > self.max_tokens:
            return
        entry = PrefixEntry(np.asarray(ids, dtype=np.int64), keys, values)
        if replaces is not None and id(replaces) in self._entries and len(replaces) <= len(entry) \
                and np.array_equal(replaces.ids, entry.ids[: len(replaces)]):
            self._remove(replaces)
        self._entries[id(entry)] = entry
        for h in self._hashes(entry.ids):
            self._by_hash[h] = entry
        self._tokens += len(entry)
        while self._tokens > self.max_tokens:
            self._remove(next(iter(self._entries.values())))

    def clear(self) -> None:
        self._entries.clear()
        self._by_hash.clear()
        self._tokens = 0

    def _hashes(self, ids: np.ndarray) -> list[int]:
        """Chained hash of each whole-block prefix of `ids`: element k covers ids[: (k + 1) * block]."""
        out, h = [], 0
        for k in range(len(ids) // self.block):
            h = hash((h, ids[k * self.block : (k + 1) * self.block].tobytes()))
            out.append(h)
        return out

    def _remove(self, entry: PrefixEntry) -> None:
        del self._entries[id(entry)]
        for h in self._hashes(entry.ids):
            if self._by_hash.get(h) is entry:
                del self._by_hash[h]
        self._tokens -= len(entry)
