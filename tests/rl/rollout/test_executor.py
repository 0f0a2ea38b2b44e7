"""RolloutExecutor on scripted agents: admission under the staleness rule, typed drops, filtering, staleness."""

from __future__ import annotations

import asyncio
import traceback

import pytest
import train_fakes as F

from asearcher.api.trajectory import Segment, Trajectory
from asearcher.engines.openai_http import HTTPEngineError
from asearcher.retrieval.client import RetrievalError
from asearcher.rl.rollout.config import RolloutConfig
from asearcher.rl.rollout.data import TrainData
from asearcher.rl.rollout.executor import RolloutExecutor
from asearcher.rl.rollout.filtering import FilterConfig, FilteringStalled
from asearcher.rl.rollout.staleness import StalenessController


class VersionedAgent:
    """Returns one sampled token carrying the engine's version; reward decided by `outcome(seed)`."""

    name = "versioned"
    started = 0

    def __init__(self, engine, seed, outcome):
        self.engine, self.seed, self.outcome = engine, seed, outcome

    async def arun(self, question, *, qid="", gold=None):
        VersionedAgent.started += 1
        await asyncio.sleep(0)
        kind = self.outcome(self.seed)
        if kind == "error":  # a failure of the world: the episode is dropped, the run goes on
            raise HTTPEngineError("POST /v1/completions failed after 3 attempts; last: 503")
        if kind == "retrieval":
            raise RetrievalError("retrieval server down")
        if kind == "bug":  # a bug of ours: the run must stop with it
            raise TypeError("arun() got an unexpected keyword argument 'turns'")
        if kind == "none":
            return None
        seg = Segment()
        seg.append_context([1, 2])
        seg.append_sampled([3], [-0.1], [self.engine.version])
        return Trajectory(qid=qid, question=question, answer=kind, segments=[seg], gold=list(gold or []))


async def reward_by_answer(traj):
    return None if traj.answer == "skip" else float(traj.answer == "right")


def make(outcome, group=2, questions=2, eta=0, max_concurrent=8, n_items=4, epochs=1, filter_cfg=None,
         overtaken="wait", agent=VersionedAgent, episode_timeout_s=0.0):
    engine = F.UpdatableScriptedEngine([])
    r = RolloutConfig(group_size=group, batch_questions=questions, max_staleness=eta, max_concurrent=max_concurrent,
                      overtaken=overtaken, episode_timeout_s=episode_timeout_s)
    ctrl = StalenessController(r.batch_size, eta, max_concurrent)
    data = TrainData(F.items(n_items), epochs=epochs, shuffle=False)
    ex = RolloutExecutor(lambda s: agent(engine, s, outcome), data, reward_by_answer, ctrl, r,
                         filter_cfg or FilterConfig(enabled=False))
    return ex, engine, ctrl


def alternate(seed):
    return "right" if seed % 2 else "wrong"


async def test_eta0_starts_exactly_one_batch_per_version():
    VersionedAgent.started = 0
    ex, engine, ctrl = make(alternate, group=2, questions=2, eta=0, n_items=8)
    ex.start()
    batch = await ex.aget_batch(2)
    await asyncio.sleep(0.01)  # give the launcher every chance to overshoot
    assert [len(g) for g in batch] == [2, 2] and VersionedAgent.started == 4
    engine.version = 1
    ex.on_version(1)
    batch = await ex.aget_batch(2)
    await asyncio.sleep(0.01)
    assert VersionedAgent.started == 8
    assert all(t.segments[0].versions[-1] == 1 for g in batch for t in g)  # synchronous: all on version 1
    assert [t.qid for g in batch for t in g] == ["q2", "q2", "q3", "q3"]  # oldest groups first, no shuffle
    await ex.aclose()


async def test_eta1_runs_one_batch_ahead_and_caps_concurrency():
    VersionedAgent.started = 0
    ex, _, ctrl = make(alternate, group=2, questions=2, eta=1, max_concurrent=8, n_items=8)
    ex.start()
    await ex.aget_batch(2)
    await asyncio.sleep(0.01)
    assert VersionedAgent.started == 8  # (eta + 0 + 1) * 4
    assert ctrl.state.accepted == 8 and ctrl.state.consumed == 4
    await ex.aclose()


async def test_failed_episodes_carry_typed_reasons_and_free_their_slots():
    outcomes = {0: "error", 1: "none", 2: "skip"}
    ex, _, ctrl = make(lambda s: outcomes.get(s % 5, alternate(s)), group=2, questions=1, eta=0, n_items=40)
    ex.start()
    batch = await ex.aget_batch(1)
    assert len(batch) == 1 and batch[0]
    drops = ctrl.state.drops
    stats = ex.pop_stats()
    assert sum(drops.values()) == sum(stats.drops.values())
    assert set(drops) <= {"engine_error", "agent_rejected", "no_reward"}
    assert ctrl.state.running + ctrl.state.accepted <= ctrl.bound()
    await ex.aclose()
    assert ctrl.state.running == 0  # cancelled in-flight episodes are counted as rejected (CANCELLED)


async def test_the_worlds_failures_are_dropped_as_engine_error_with_their_kind_and_the_run_goes_on():
    outcomes = {0: "error", 1: "retrieval"}  # seeds are random: about 2 in 5 episodes fail
    ex, engine, ctrl = make(lambda s: outcomes.get(s % 5, alternate(s)), group=2, questions=1, eta=0, n_items=40)
    ex.start()
    for version in range(1, 6):
        batch = await asyncio.wait_for(ex.aget_batch(1), timeout=10)
        assert batch and all(batch)  # trained on, despite the failures (partial groups may make more due)
        await _step(ex, engine, version)
    kinds = {d.detail.split(":")[0] for d in ex.recent_drops}
    assert kinds == {"HTTPEngineError", "RetrievalError"}  # the drop says what failed
    stats = ex.pop_stats()
    assert stats.drops["engine_error"] == ctrl.state.drops["engine_error"] >= 2  # counted for drops/engine_error
    await ex.aclose()


@pytest.mark.parametrize("where", ["agent", "reward"])
async def test_a_bug_of_ours_ends_the_run_with_its_traceback_instead_of_a_drop(where):
    if where == "agent":
        ex, engine, ctrl = make(lambda s: "bug" if s % 3 == 0 else alternate(s), group=2, questions=1, eta=0,
                                n_items=40)
    else:
        ex, engine, ctrl = make(lambda s: "wrong", group=2, questions=1, eta=0, n_items=40)

        async def reward(traj):
            return {"right": 1.0}[traj.answer]  # KeyError on "wrong": our bug, not the world's

        ex.reward_fn = reward
    ex.start()
    with pytest.raises((TypeError, KeyError)) as raised:
        for version in range(1, 20):  # the bug comes within a few batches; never a hang
            await asyncio.wait_for(ex.aget_batch(1), timeout=10)
            await _step(ex, engine, version)
    assert raised.type is (TypeError if where == "agent" else KeyError)
    frames = [f.name for f in traceback.extract_tb(raised.value.__traceback__)]
    assert ("arun" if where == "agent" else "reward") in frames  # where the bug is, not only where it surfaced
    assert "engine_error" not in ctrl.state.drops  # never dropped as the world's failure
    await ex.aclose()


async def test_all_equal_groups_are_filtered_then_filtering_stalls_loudly():
    ex, _, ctrl = make(lambda s: "wrong", group=2, questions=1, eta=0, n_items=50,
                       filter_cfg=FilterConfig(enabled=True, max_consecutive_dropped=3))
    ex.start()
    with pytest.raises(FilteringStalled):
        await asyncio.wait_for(ex.aget_batch(1), timeout=10)
    assert ctrl.state.drops["filtered_all_equal"] == 6  # 3 groups of 2
    await ex.aclose()


async def test_small_dataset_never_hangs_when_filtering_ends_epochs():
    ex, _, _ = make(lambda s: "wrong", group=2, questions=1, eta=0, n_items=2, epochs=1,
                    filter_cfg=FilterConfig(enabled=True, on_exhausted="end_epoch", max_empty_epochs=5))
    ex.start()
    assert await asyncio.wait_for(ex.aget_batch(1), timeout=10) == []  # data exhausted, nothing kept
    assert ex.exhausted
    await ex.aclose()


async def test_groups_overtaken_by_the_trainer_are_dropped_too_stale():
    ex, engine, ctrl = make(alternate, group=2, questions=1, eta=0, n_items=8)
    ex.start()
    while not ex.buffer:
        await asyncio.sleep(0.001)
    engine.version = 1
    ex.on_version(1)  # the trainer moved on without taking the version-0 group
    batch = await ex.aget_batch(1)
    assert ctrl.state.drops["too_stale"] == 2
    assert all(t.segments[0].versions[-1] == 1 for g in batch for t in g)
    await ex.aclose()


class LongFirstAgent(VersionedAgent):
    """Questions in `long` are long episodes: a token at the start version, then they wait for
    `LongFirstAgent.gate` and sample a second token at the version of that moment. Every other question
    is one token."""

    gate: asyncio.Event
    long = ("q0",)

    async def arun(self, question, *, qid="", gold=None):
        if qid not in LongFirstAgent.long:
            return await super().arun(question, qid=qid, gold=gold)
        seg = Segment()
        seg.append_context([1, 2])
        seg.append_sampled([3], [-0.1], [self.engine.version])
        await LongFirstAgent.gate.wait()
        seg.append_sampled([4], [-0.1], [self.engine.version])
        return Trajectory(qid=qid, question=question, answer=alternate(self.seed), segments=[seg], gold=list(gold or []))


async def _step(ex, engine, version):
    """What the train loop does between batches: the engine and then the executor move to `version`."""
    engine.version = version
    ex.on_version(version)


@pytest.mark.parametrize("policy", ["wait", "drop"])
async def test_a_long_group_overtaken_by_short_ones_is_waited_for_or_dropped(policy, caplog, monkeypatch):
    """eta=1, one group per batch: q0 (long) starts at version 0 with q1, q2 ...; the shorter groups
    overtake it. At version 1 q0 is due (0 + eta): `wait` blocks the batch until q0 finishes and trains
    it with lag <= eta; `drop` trains q1 and q2 and q0 is dropped too stale at version 2."""
    LongFirstAgent.gate, LongFirstAgent.long = asyncio.Event(), ("q0",)
    ex, engine, ctrl = make(alternate, group=2, questions=1, eta=1, n_items=6, overtaken=policy, agent=LongFirstAgent)
    monkeypatch.setattr(ex, "overtaken_warn_s", 0.01)
    ex.start()
    first = await asyncio.wait_for(ex.aget_batch(1), timeout=5)  # version 0: q0 is not due yet
    assert [t.qid for t in first[0]] == ["q1", "q1"]
    await _step(ex, engine, 1)
    second = asyncio.ensure_future(ex.aget_batch(1))
    await asyncio.sleep(0.05)
    if policy == "wait":
        assert not second.done()  # q2 has finished, but q0 is due and still running
        LongFirstAgent.gate.set()
        batch = await asyncio.wait_for(second, timeout=5)
        assert [t.qid for t in batch[0]] == ["q0", "q0"]
        assert "waited" in caplog.text and "'q0'" in caplog.text  # overtaken_warn_s elapsed while waiting
        assert all(t.segments[0].versions[-2:] == [0, 1] for t in batch[0])  # sampled tokens; lag 1 = eta at version 1
        assert ex.pop_stats().overtaken_wait_s >= 0.04
        assert "too_stale" not in ctrl.state.drops
    else:
        batch = await asyncio.wait_for(second, timeout=5)
        assert [t.qid for t in batch[0]] == ["q2", "q2"]
        await _step(ex, engine, 2)
        LongFirstAgent.gate.set()
        third = await asyncio.wait_for(ex.aget_batch(1), timeout=5)
        assert [t.qid for t in third[0]] == ["q3", "q3"]
        assert ctrl.state.drops["too_stale"] == 2  # q0's first token (version 0) lags 2 > eta
    await ex.aclose()


async def test_every_due_group_is_trained_even_when_more_than_one_batch_is_due():
    """eta=2, one group per batch: q0, q1 (both long) and q2 start at version 0; q2 and q3 are batches
    0 and 1; at version 2 both long groups are due: the trainer waits for both and takes both."""
    LongFirstAgent.gate, LongFirstAgent.long = asyncio.Event(), ("q0", "q1")
    ex, engine, ctrl = make(alternate, group=2, questions=1, eta=2, n_items=8, agent=LongFirstAgent)
    ex.start()
    assert [t.qid for t in (await asyncio.wait_for(ex.aget_batch(1), timeout=5))[0]] == ["q2", "q2"]
    await _step(ex, engine, 1)
    assert [t.qid for t in (await asyncio.wait_for(ex.aget_batch(1), timeout=5))[0]] == ["q3", "q3"]
    await _step(ex, engine, 2)
    pending = asyncio.ensure_future(ex.aget_batch(1))
    await asyncio.sleep(0.05)
    assert not pending.done()
    LongFirstAgent.gate.set()
    batch = await asyncio.wait_for(pending, timeout=5)
    assert [[t.qid for t in g] for g in batch] == [["q0", "q0"], ["q1", "q1"]]
    assert "too_stale" not in ctrl.state.drops
    await ex.aclose()


class CancelledInsideAgent(VersionedAgent):
    """q0's request is cancelled under it (as when an engine closes); other questions answer normally."""

    async def arun(self, question, *, qid="", gold=None):
        if qid == "q0":
            fut = asyncio.get_running_loop().create_future()
            fut.cancel()
            await fut
        return await super().arun(question, qid=qid, gold=gold)


async def test_a_cancellation_inside_the_agent_fails_the_episode_and_finishes_its_group():
    ex, _, ctrl = make(alternate, group=2, questions=1, eta=0, n_items=4, agent=CancelledInsideAgent)
    ex.start()
    batch = await asyncio.wait_for(ex.aget_batch(1), timeout=5)  # q0's group (all failed) must not block
    assert [t.qid for t in batch[0]] == ["q1", "q1"]
    assert ctrl.state.drops["engine_error"] == 2
    await ex.aclose()


class HungOnQ0(VersionedAgent):
    """q0's request never answers (a hung engine or tool server); other questions answer normally.
    A fake for determinism: a real hung server would make the test as slow as its cap, and flaky."""

    async def arun(self, question, *, qid="", gold=None):
        if qid == "q0":
            await asyncio.Event().wait()
        return await super().arun(question, qid=qid, gold=gold)


async def test_an_episode_past_its_wall_clock_cap_is_dropped_as_timeout_and_the_run_goes_on():
    # eta = 0, one group per batch: only q0's group may start, so without the cap nothing would ever be trained
    ex, _, ctrl = make(alternate, group=2, questions=1, eta=0, n_items=4, agent=HungOnQ0, episode_timeout_s=0.2)
    ex.start()
    batch = await asyncio.wait_for(ex.aget_batch(1), timeout=10)
    assert [t.qid for t in batch[0]] == ["q1", "q1"]
    assert ctrl.state.drops == {"timeout": 2}  # typed, and the hung episodes freed their slots
    assert [(d.qid, d.detail) for d in ex.recent_drops] == [("q0", "the episode ran past its wall-clock cap of 0.2 s")] * 2
    stats = ex.pop_stats()
    assert stats.drops == {"timeout": 2} and stats.episodes >= 4  # what the metrics row reports as drops/timeout
    await ex.aclose()


async def test_without_a_cap_a_hung_episode_keeps_its_group_waiting():
    ex, _, ctrl = make(alternate, group=2, questions=1, eta=0, n_items=4, agent=HungOnQ0)
    ex.start()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(ex.aget_batch(1), timeout=0.5)
    assert ctrl.state.running == 2 and not ctrl.state.drops
    await ex.aclose()


async def test_augmented_answers_reach_the_reward_as_partial_credit():
    from asearcher.api.qa import QAItem
    from asearcher.reward.rewards import f1_format_reward

    class Answers(VersionedAgent):
        async def arun(self, question, *, qid="", gold=None):
            traj = await super().arun(question, qid=qid, gold=gold)
            traj.answer = "Donau"  # no turns: format_ok holds
            return traj

    got = []

    async def reward(traj):
        got.append(traj)
        return f1_format_reward(traj, traj.gold)

    engine = F.UpdatableScriptedEngine([])
    r = RolloutConfig(group_size=1, batch_questions=1, max_staleness=0, max_concurrent=1)
    item = QAItem(id="q0", question="Which river flows through Vienna?", golds=["Danube"],
                  metadata={"aug_answer": ["Donau"]})
    ex = RolloutExecutor(lambda s: Answers(engine, s, alternate), TrainData([item], shuffle=False), reward,
                         StalenessController(1, 0, 1), r, FilterConfig(enabled=False))
    ex.start()
    batch = await ex.aget_batch(1)
    await ex.aclose()
    assert got[0].metadata["aug_golds"] == ["Donau"]
    # ASearcher: 0.7 x F1 on the golds (0) + 0.3 x max(F1 on the augmented answers (1), 0)
    assert batch[0][0].reward == pytest.approx(0.3)
