"""Packing: prefix merging of multi-turn segments, budgets, and that no trained token is lost."""

from __future__ import annotations

import random

import pytest
import torch

from asearcher.api.trajectory import Segment, Trajectory
from asearcher.errors import UserError
from asearcher.rl.algo.advantages import TrainSample, broadcast
from asearcher.rl.algo.packing import first_fit_decreasing, merge_prefixes, pack


def _sample(segs: list[Segment], adv: float = 1.0) -> TrainSample:
    t = Trajectory(qid="q", question="", segments=segs, reward=1.0)
    return TrainSample(t, adv, broadcast(t, adv))


def _reasoning_segments() -> list[Segment]:
    """Turn 1: prompt [1,2] + sampled [3,4]; turn 2 re-renders them as context + tool [5] + sampled [6]."""
    a = Segment()
    a.append_context([1, 2])
    a.append_sampled([3, 4], [-0.1, -0.2], [0, 0])
    b = Segment()
    b.append_context([1, 2, 3, 4, 5])
    b.append_sampled([6], [-0.3], [1])
    return [a, b]


def test_prefix_segment_trained_inside_the_longer_one():
    (seq,) = merge_prefixes(_sample(_reasoning_segments(), adv=0.5))
    assert seq.token_ids == [1, 2, 3, 4, 5, 6]
    assert seq.loss_mask == [0, 0, 1, 1, 0, 1]
    assert seq.behav_logp == [0.0, 0.0, -0.1, -0.2, 0.0, -0.3]
    assert seq.versions == [-1, -1, 0, 0, -1, 1]
    assert seq.advantages == [0.0, 0.0, 0.5, 0.5, 0.0, 0.5]
    assert sorted(seq.segments) == [0, 1]


def test_non_prefix_segments_stay_separate():
    a, b = _reasoning_segments()
    b.token_ids[2] = 99  # the re-rendered context differs from the sampled text: no merge
    seqs = merge_prefixes(_sample([a, b]))
    assert len(seqs) == 2 and sum(sum(q.loss_mask) for q in seqs) == 3


def test_conflicting_logprobs_on_shared_sampled_tokens_prevent_merge():
    a = Segment()
    a.append_context([1])
    a.append_sampled([2], [-0.5], [0])
    b = Segment()
    b.append_context([1])
    b.append_sampled([2, 3], [-0.9, -0.1], [0, 0])  # same token, other logprob: not the same sample
    assert len(merge_prefixes(_sample([a, b]))) == 2
    b.logprobs[1] = -0.5
    assert len(merge_prefixes(_sample([a, b]))) == 1


def test_first_token_sampled_is_refused():
    s = Segment()
    s.append_sampled([1, 2], [-0.1, -0.1], [0, 0])
    with pytest.raises(ValueError, match="first token"):
        merge_prefixes(_sample([s]))


def test_first_fit_decreasing_hand_example():
    # lengths 5,4,3,3,2,1 into budget 7 -> [5,2], [4,3], [3,1]
    bins = first_fit_decreasing([3, 5, 1, 4, 2, 3], 7)
    assert [[[3, 5, 1, 4, 2, 3][i] for i in b] for b in bins] == [[5, 2], [4, 3], [3, 1]]
    with pytest.raises(UserError, match="max_tokens_per_mb=4"):
        first_fit_decreasing([5], 4)


def test_pack_layout_positions_cu_seqlens():
    s1 = _sample(_reasoning_segments(), adv=2.0)  # merges into one sequence of 6
    other = Segment()
    other.append_context([7, 8])
    other.append_sampled([9], [-0.4], [3])
    (mb,) = pack([s1, _sample([other], adv=-1.0)], max_tokens_per_mb=16)
    assert mb.input_ids.tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert mb.position_ids.tolist() == [0, 1, 2, 3, 4, 5, 0, 1, 2]
    assert mb.cu_seqlens.tolist() == [0, 6, 9] and mb.cu_seqlens.dtype == torch.int32
    assert mb.loss_mask.tolist() == [False, False, True, True, False, True, False, False, True]
    assert mb.advantages.tolist() == [0, 0, 2, 2, 0, 2, 0, 0, -1]
    assert mb.versions.tolist() == [-1, -1, 0, 0, -1, 1, -1, -1, 3]
    assert mb.sample_index.tolist() == [0, 1]


def test_pack_random_batch_budget_honoured_and_nothing_lost():
    rng = random.Random(1)
    samples = []
    expected = []  # (sample, token, logprob) multiset of every sampled token, prefix duplicates removed
    for si in range(20):
        seg = Segment()
        seg.append_context([rng.randrange(100) for _ in range(rng.randint(1, 10))])
        segs = []
        for turn in range(rng.randint(1, 4)):
            ids = [rng.randrange(100) for _ in range(rng.randint(1, 8))]
            seg.append_sampled(ids, [-rng.random() for _ in ids], [turn] * len(ids))
            segs.append(Segment(list(seg.token_ids), list(seg.loss_mask), list(seg.logprobs), list(seg.versions)))
            seg.append_context([rng.randrange(100) for _ in range(rng.randint(0, 5))])
        expected += [(si, t, round(lp, 4)) for t, m, lp in zip(segs[-1].token_ids, segs[-1].loss_mask, segs[-1].logprobs) if m]
        samples.append(_sample(segs, adv=float(si)))
    mbs = pack(samples, max_tokens_per_mb=48)
    got = []
    for mb in mbs:
        assert mb.n_tokens <= 48
        for k in range(mb.n_seqs):
            a, b = mb.cu_seqlens[k].item(), mb.cu_seqlens[k + 1].item()
            si = mb.sample_index[k].item()
            assert mb.position_ids[a:b].tolist() == list(range(b - a))
            got += [(si, mb.input_ids[t].item(), round(mb.behav_logp[t].item(), 4))
                    for t in range(a, b) if mb.loss_mask[t]]
            assert all(mb.advantages[t].item() == si for t in range(a, b) if mb.loss_mask[t])
    # each append-only trajectory collapses into one sequence; every sampled token appears exactly once
    assert sum(mb.n_seqs for mb in mbs) == 20
    assert sorted(got) == sorted(expected)
