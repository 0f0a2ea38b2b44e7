"""Pack trajectories into flat, token-budgeted micro-batches for the trainer (varlen style).

Two steps:
  1. Prefix merging, within one trajectory: if segment B's token_ids start with all of segment A's
     token_ids, A is trained inside B. By causality the logits at A's positions are the same in
     both, so the merged sequence takes loss_mask = A.mask OR B.mask, and logprob / version /
     advantage from whichever segment sampled the token. Where both sampled it they must agree
     (same version, logprobs within `atol`), otherwise the segments stay separate sequences.
     An append-only agent's segments collapse into one; a reasoning agent whose prompts re-render
     earlier outputs as context (mask 0) merges whenever the rendering is a token-exact prefix.
  2. First-fit-decreasing bin packing of the sequences into micro-batches of at most
     `max_tokens_per_mb` tokens.

Alignment convention: every per-token tensor is aligned to the tokens: behav_logp[t] is the
log-probability of input_ids[t] given the tokens before it in its sequence, i.e. it comes from the
logits at position t - 1 (logit at t predicts token t + 1). The first token of each sequence has
no logprob: its value is 0 and its loss_mask must be 0 (a segment starting with a sampled token
has no context and is refused). position_ids restart at 0 for every sequence; cu_seqlens holds the
sequence boundaries (int32, length n_seqs + 1, starting at 0), as flash-attention's varlen API wants.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from asearcher.errors import UserError
from asearcher.rl.algo.advantages import TrainSample

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class PackedSequence:
    """One training sequence (after prefix merging), as plain lists aligned to token_ids."""

    token_ids: list[int]
    loss_mask: list[int]
    behav_logp: list[float]
    versions: list[int]
    advantages: list[float]
    sample_index: int  # index of the TrainSample it came from
    segments: list[int] = field(default_factory=list)  # indices of the segments merged into it

    def __len__(self) -> int:
        return len(self.token_ids)


@dataclass(slots=True)
class MicroBatch:
    """Flat tensors of several packed sequences; see the module docstring for the alignment."""

    input_ids: torch.Tensor  # [T] int64
    position_ids: torch.Tensor  # [T] int64, restarting at 0 per sequence
    cu_seqlens: torch.Tensor  # [n_seqs + 1] int32
    loss_mask: torch.Tensor  # [T] bool
    behav_logp: torch.Tensor  # [T] float32
    versions: torch.Tensor  # [T] int64, -1 where loss_mask is 0
    advantages: torch.Tensor  # [T] float32
    sample_index: torch.Tensor  # [n_seqs] int64: TrainSample of each sequence

    @property
    def n_tokens(self) -> int:
        return int(self.input_ids.numel())

    @property
    def n_seqs(self) -> int:
        return int(self.cu_seqlens.numel()) - 1

    @property
    def n_loss_tokens(self) -> int:
        return int(self.loss_mask.sum())


def _compatible(seq: PackedSequence, ids: list[int], mask: list[int], logp: list[float], vers: list[int],
                adv: list[float], atol: float) -> bool:
    if seq.token_ids[: len(ids)] != ids:
        return False
    for t, m in enumerate(mask):
        if m and seq.loss_mask[t]:
            if vers[t] != seq.versions[t] or abs(logp[t] - seq.behav_logp[t]) > atol or abs(adv[t] - seq.advantages[t]) > atol:
                return False
    return True


def merge_prefixes(sample: TrainSample, sample_index: int = 0, atol: float = 1e-4) -> list[PackedSequence]:
    """The trajectory's segments as few sequences as shared prefixes allow (module docstring, step 1)."""
    segs = sample.trajectory.segments
    if len(sample.token_advantages) != len(segs):
        raise ValueError(f"sample {sample_index}: {len(sample.token_advantages)} advantage lists for {len(segs)} segments")
    order = sorted(range(len(segs)), key=lambda i: -len(segs[i]))  # longest first: prefixes find their host
    out: list[PackedSequence] = []
    for i in order:
        s, adv = segs[i], sample.token_advantages[i]
        n = len(s.token_ids)
        if not (n == len(s.loss_mask) == len(s.logprobs) == len(s.versions) == len(adv)):
            raise ValueError(f"sample {sample_index} segment {i}: per-token lists differ in length")
        if n == 0:
            continue
        if s.loss_mask[0]:
            raise ValueError(f"sample {sample_index} segment {i}: first token is sampled; it has no context to train on")
        host = next((q for q in out if _compatible(q, s.token_ids, s.loss_mask, s.logprobs, s.versions, adv, atol)), None)
        if host is None:
            out.append(PackedSequence(list(s.token_ids), list(s.loss_mask), list(s.logprobs), list(s.versions),
                                      list(adv), sample_index, [i]))
            continue
        for t in range(n):
            if s.loss_mask[t] and not host.loss_mask[t]:
                host.loss_mask[t] = 1
                host.behav_logp[t] = s.logprobs[t]
                host.versions[t] = s.versions[t]
                host.advantages[t] = adv[t]
        host.segments.append(i)
    return out


def first_fit_decreasing(lengths: Sequence[int], budget: int) -> list[list[int]]:
    """Indices of `lengths` grouped into bins of total <= budget (first fit, longest first)."""
    bins: list[list[int]] = []
    room: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
        if lengths[i] > budget:
            raise UserError(f"a sequence of {lengths[i]} tokens exceeds max_tokens_per_mb={budget}: raise it to at "
                            f"least the longest trajectory, or cap the agent's context length")
        for b, r in enumerate(room):
            if lengths[i] <= r:
                bins[b].append(i)
                room[b] -= lengths[i]
                break
        else:
            bins.append([i])
            room.append(budget - lengths[i])
    return bins


def to_micro_batch(seqs: Sequence[PackedSequence]) -> MicroBatch:
    """Concatenate sequences into one flat MicroBatch."""
    lengths = [len(s) for s in seqs]
    cu = torch.zeros(len(seqs) + 1, dtype=torch.int32)
    cu[1:] = torch.cumsum(torch.tensor(lengths, dtype=torch.int32), 0)
    return MicroBatch(
        input_ids=torch.tensor([t for s in seqs for t in s.token_ids], dtype=torch.long),
        position_ids=torch.cat([torch.arange(n, dtype=torch.long) for n in lengths]),
        cu_seqlens=cu,
        loss_mask=torch.tensor([m for s in seqs for m in s.loss_mask], dtype=torch.bool),
        behav_logp=torch.tensor([x for s in seqs for x in s.behav_logp], dtype=torch.float32),
        versions=torch.tensor([v for s in seqs for v in s.versions], dtype=torch.long),
        advantages=torch.tensor([a for s in seqs for a in s.advantages], dtype=torch.float32),
        sample_index=torch.tensor([s.sample_index for s in seqs], dtype=torch.long),
    )


def pack(samples: Sequence[TrainSample], max_tokens_per_mb: int, atol: float = 1e-4) -> list[MicroBatch]:
    """Merge each sample's prefix segments, then pack all sequences into token-budgeted micro-batches."""
    seqs = [q for i, s in enumerate(samples) for q in merge_prefixes(s, i, atol)]
    if not seqs:
        return []
    bins = first_fit_decreasing([len(q) for q in seqs], max_tokens_per_mb)
    n_seg = sum(len(s.trajectory.segments) for s in samples)
    logger.debug("packed %d segments into %d sequences and %d micro-batches", n_seg, len(seqs), len(bins))
    return [to_micro_batch([seqs[i] for i in b]) for b in bins]
