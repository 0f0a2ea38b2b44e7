"""A left-padded batch of sequences sharing one transformers `DynamicCache` (continuous batching lite).

Rows join by being prefilled on their own and concatenated (the shorter cache is padded on the left
with masked zeros: keys already carry their RoPE positions, so padding is exact), and leave by index
selection. Rows prefilled on top of a reused prefix (`prefill_after`) may also have masked columns
between the prefix and the new tokens; a row's next position is always its count of real tokens.
Invariant: the cache holds every token of a row except its newest sampled one, which the next decode
step feeds.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import DynamicCache


class KVBatch:
    """The cache, attention mask ([rows, cache_len], 1 = real token) and rows' next positions."""

    def __init__(self, cache: DynamicCache, mask: torch.Tensor) -> None:
        self.cache = cache
        self.mask = mask

    @property
    def rows(self) -> int:
        return int(self.mask.shape[0])

    @classmethod
    def prefill(cls, model: Any, contexts: list[list[int]], pad_id: int) -> tuple[KVBatch, torch.Tensor]:
        """Run `contexts` (left-padded) through `model`; return the batch and last-position logits."""
        device = model.device
        width = max(len(c) for c in contexts)
        ids = torch.full((len(contexts), width), pad_id, dtype=torch.long, device=device)
        mask = torch.zeros((len(contexts), width), dtype=torch.long, device=device)
        for i, ctx in enumerate(contexts):
            ids[i, width - len(ctx) :] = torch.tensor(ctx, dtype=torch.long, device=device)
            mask[i, width - len(ctx) :] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = DynamicCache()
        # logits_to_keep=1: the LM head runs on the last position only (~20% of a 135M model's prefill).
        out = model(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache, use_cache=True,
                    logits_to_keep=1)
        return cls(out.past_key_values, mask), out.logits[:, -1, :]

    @classmethod
    def prefill_after(cls, model: Any, prefixes: list[tuple[list[torch.Tensor], list[torch.Tensor], int]],
                      suffixes: list[list[int]], pad_id: int) -> tuple[KVBatch, torch.Tensor]:
        """Like `prefill`, but row i already has the keys/values of its first `n` tokens: `prefixes[i]` =
        (per-layer keys, per-layer values, n), each [1, kv_heads, >= n, head_dim]; only `suffixes[i]` is run.

        The reused parts are left-padded to one width, the suffixes too, so a short prefix leaves masked
        columns before its suffix; positions come from the mask, so every real token keeps its own.
        """
        device = model.device
        past_w, new_w = max(n for _, _, n in prefixes), max(len(s) for s in suffixes)
        rows = len(suffixes)
        mask = torch.zeros((rows, past_w + new_w), dtype=torch.long, device=device)
        ids = torch.full((rows, new_w), pad_id, dtype=torch.long, device=device)
        for i, ((_, _, n), suffix) in enumerate(zip(prefixes, suffixes, strict=True)):
            mask[i, past_w - n : past_w] = 1
            mask[i, past_w + new_w - len(suffix) :] = 1
            ids[i, new_w - len(suffix) :] = torch.tensor(suffix, dtype=torch.long, device=device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, past_w:]
        cache = DynamicCache()
        for layer in range(len(prefixes[0][0])):
            keys = torch.cat([_left_pad(k[layer][:, :, :n], past_w, 2) for k, _, n in prefixes], dim=0)
            values = torch.cat([_left_pad(v[layer][:, :, :n], past_w, 2) for _, v, n in prefixes], dim=0)
            cache.update(keys, values, layer)
        out = model(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache, use_cache=True,
                    logits_to_keep=1)
        return cls(out.past_key_values, mask), out.logits[:, -1, :]

    def row_kv(self, row: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Per-layer keys and values of `row`'s real tokens only ([1, kv_heads, tokens, head_dim]; copies)."""
        cols = self.mask[row].nonzero().squeeze(1)
        keys = [layer.keys[row : row + 1].index_select(2, cols) for layer in self.cache.layers]
        values = [layer.values[row : row + 1].index_select(2, cols) for layer in self.cache.layers]
        return keys, values

    def decode(self, model: Any, last_tokens: list[int]) -> torch.Tensor:
        """Feed each row's newest token; return next-token logits [rows, vocab]."""
        device = self.mask.device
        positions = self.mask.sum(-1, keepdim=True)  # a row's next position = its real-token count
        self.mask = torch.cat([self.mask, torch.ones((self.rows, 1), dtype=torch.long, device=device)], dim=1)
        ids = torch.tensor(last_tokens, dtype=torch.long, device=device).unsqueeze(1)
        out = model(
            input_ids=ids, attention_mask=self.mask, position_ids=positions, past_key_values=self.cache, use_cache=True
        )
        self.cache = out.past_key_values
        return out.logits[:, -1, :]

    def select(self, keep: list[int]) -> None:
        """Keep only rows `keep` (in that order), then drop columns that are padding in every row."""
        index = torch.tensor(keep, dtype=torch.long, device=self.mask.device)
        self.cache.batch_select_indices(index)
        self.mask = self.mask[index]
        real = self.mask.any(dim=0).nonzero()
        start = int(real[0]) if len(real) else self.mask.shape[1]
        if start > 0:
            self.mask = self.mask[:, start:]
            for layer in self.cache.layers:
                layer.keys = layer.keys[:, :, start:, :]
                layer.values = layer.values[:, :, start:, :]

    def extend(self, other: KVBatch) -> None:
        """Append the rows of `other` below ours, left-padding whichever cache is shorter."""
        width = max(self.mask.shape[1], other.mask.shape[1])
        for mine, theirs in zip(self.cache.layers, other.cache.layers, strict=True):
            mine.keys = torch.cat([_left_pad(mine.keys, width, 2), _left_pad(theirs.keys, width, 2)], dim=0)
            mine.values = torch.cat([_left_pad(mine.values, width, 2), _left_pad(theirs.values, width, 2)], dim=0)
        self.mask = torch.cat([_left_pad(self.mask, width, 1), _left_pad(other.mask, width, 1)], dim=0)


def _left_pad(t: torch.Tensor, width: int, dim: int) -> torch.Tensor:
    missing = width - t.shape[dim]
    if missing == 0:
        return t
    shape = list(t.shape)
    shape[dim] = missing
    return torch.cat([torch.zeros(shape, dtype=t.dtype, device=t.device), t], dim=dim)
