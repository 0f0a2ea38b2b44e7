"""TrainData: seeded epochs and difficulty-aware sampling, against hand-computed draw sequences."""

from __future__ import annotations

import pytest

from asearcher.api.qa import QAItem
from asearcher.errors import UserError
from asearcher.rl.rollout.data import TrainData


def _items(n: int) -> list[QAItem]:
    return [QAItem(f"q{i}", f"question {i}", [f"a{i}"]) for i in range(n)]


def _ids(data: TrainData, n: int) -> list[str | None]:
    out = []
    for _ in range(n):
        d = data.next()
        out.append(None if d is None else d.item.id)
    return out


def test_off_by_default_every_question_every_epoch():
    data = TrainData(_items(3), epochs=2, shuffle=False)
    assert _ids(data, 7) == ["q0", "q1", "q2", "q0", "q1", "q2", None]
    assert data.skipped == 0


def test_all_equal_groups_sit_out_revisit_after_epochs_then_return():
    # window 1, revisit 1: q0 all correct and q2 all wrong in epoch 0 -> skipped in epoch 1, back in epoch 2.
    data = TrainData(_items(3), epochs=3, shuffle=False, skip_window=1, revisit_after=1)
    draws = [data.next() for _ in range(3)]
    assert [data.record(d, r) for d, r in zip(draws, ([1, 1, 1, 1], [0, 1, 0, 1], [0, 0, 0, 0]), strict=True)] == [
        "all_correct", "mixed", "all_wrong"]
    assert _ids(data, 1) == ["q1"]  # epoch 1: only the mixed one (q0 skipped on the way)
    assert data.skipped == 1
    assert _ids(data, 4) == ["q0", "q1", "q2", None]  # q2 skipped; epoch 2: both back (skip_until = 0 + 1 + 1)
    assert data.skipped == 2


def test_revisit_after_two_epochs_and_window_of_two():
    data = TrainData(_items(2), epochs=4, shuffle=False, skip_window=2, revisit_after=2)
    d0, d1 = data.next(), data.next()
    data.record(d0, [1.0, 1.0])
    data.record(d1, [0.5, 0.5])  # all equal at 0.5: counts as solved, but one group is not a window of 2
    e1 = [data.next(), data.next()]
    assert [d.item.id for d in e1] == ["q0", "q1"]
    data.record(e1[0], [0.2, 0.9])  # q0: all_correct, mixed -> stays
    data.record(e1[1], [0.0, 0.0])  # q1: all_correct, all_wrong -> both uninformative: skip epochs 2 and 3
    assert data.outcomes == {"q0": ["all_correct", "mixed"], "q1": ["all_correct", "all_wrong"]}
    assert data.skip_until == {"q1": 1 + 2 + 1}
    assert _ids(data, 3) == ["q0", "q0", None]
    assert data.skipped == 2


def test_a_late_record_counts_from_the_epoch_of_its_draw():
    # The group of an epoch-0 draw may finish after epoch 1 has started: it is still skipped until epoch 2.
    data = TrainData(_items(2), epochs=3, shuffle=False, skip_window=1, revisit_after=1)
    d0 = data.next()
    assert _ids(data, 1) == ["q1"]  # epoch 0 fully drawn; the next call starts epoch 1
    data.record(d0, [1, 1])
    assert _ids(data, 4) == ["q1", "q0", "q1", None]


def test_state_dict_round_trip_keeps_the_history_and_old_checkpoints_load():
    data = TrainData(_items(3), epochs=3, shuffle=True, seed=5, skip_window=1)
    d = data.next()
    data.record(d, [1, 1])
    state = data.state_dict()
    rest = _ids(data, 8)
    again = TrainData(_items(3), epochs=3, shuffle=True, seed=5, skip_window=1)
    again.load_state_dict(state)
    assert _ids(again, 8) == rest
    old = {k: state[k] for k in ("epoch", "position", "n_items", "seed")}
    fresh = TrainData(_items(3), epochs=3, shuffle=True, seed=5, skip_window=1)
    fresh.load_state_dict(old)
    assert fresh.skip_until == {} and fresh.outcomes == {}


def test_bad_settings_fail_loudly():
    with pytest.raises(UserError, match="skip_window"):
        TrainData(_items(1), skip_window=-1)
    with pytest.raises(UserError, match="revisit_after"):
        TrainData(_items(1), revisit_after=0)


def test_the_run_path_checks_and_keeps_the_sampling_settings(tmp_path):
    """`from_config` (what training uses) goes through the same checks as the constructor."""
    from asearcher.rl.config import DataConfig

    qa = tmp_path / "qa.jsonl"
    qa.write_text('{"question": "q1", "answer": "a1"}\n{"question": "q2", "answer": "a2"}\n')
    with pytest.raises(UserError, match="skip_window"):
        TrainData.from_config(DataConfig(train=str(qa), skip_window=-1))
    data = TrainData.from_config(DataConfig(train=str(qa), skip_window=2, revisit_after=3), tolerance=0.01)
    assert (data.skip_window, data.revisit_after, data.tolerance) == (2, 3, 0.01)
