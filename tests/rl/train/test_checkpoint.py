"""Checkpoints: weights, optimizer, RNG, buffer round-trip; atomic writes; keep-last pruning."""

from __future__ import annotations

import random

import numpy as np
import torch
import train_fakes as F

from asearcher.api.trajectory import Segment, Trajectory
from asearcher.rl.train.checkpoint import checkpoint_dirs, latest_checkpoint, load_checkpoint, save_checkpoint


def _traj(qid, reward):
    seg = Segment()
    seg.append_context([1, 2])
    seg.append_sampled([3, 4], [-0.5, -0.25], [3, 4])
    return Trajectory(qid=qid, question="q?", segments=[seg], reward=reward, gold=["a"])


def test_round_trip_restores_everything(tmp_path):
    model = F.tiny_model(0)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.tensor([[1, 2, 3]])).logits.sum().backward()
    opt.step()
    buffer = [(7, [_traj("q1", 1.0), _traj("q1", 0.0)]), (9, [_traj("q2", 0.5)])]
    random.seed(1)
    np.random.seed(1)
    torch.manual_seed(1)
    path = save_checkpoint(tmp_path, 3, model, opt, {"version": 3, "data": {"epoch": 1}}, buffer)
    expected = (random.random(), float(np.random.rand()), float(torch.rand(1)))

    other = F.tiny_model(5)
    other_opt = torch.optim.AdamW(other.parameters(), lr=1e-3)
    ck = load_checkpoint(path, other, other_opt)
    assert (random.random(), float(np.random.rand()), float(torch.rand(1))) == expected
    for a, b in zip(model.state_dict().values(), other.state_dict().values()):
        assert torch.equal(a, b)
    assert other_opt.state_dict()["state"][0]["step"] == opt.state_dict()["state"][0]["step"]
    assert ck.state["step"] == 3 and ck.state["version"] == 3 and ck.state["data"] == {"epoch": 1}
    assert [(g, [t.to_dict() for t in ts]) for g, ts in ck.buffer] == [(g, [t.to_dict() for t in ts]) for g, ts in buffer]


def test_keep_last_and_no_temp_folders_left(tmp_path):
    model = F.tiny_model(0)
    opt = torch.optim.AdamW(model.parameters())
    for step in (1, 2, 3):
        save_checkpoint(tmp_path, step, model, opt, {"version": step}, [], keep_last=2)
    assert [p.name for p in checkpoint_dirs(tmp_path)] == ["step-000002", "step-000003"]
    assert latest_checkpoint(tmp_path).name == "step-000003"
    assert not [p for p in (tmp_path / "checkpoints").iterdir() if p.name.startswith(".tmp")]
