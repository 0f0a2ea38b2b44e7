"""The rollout executor: agent episodes run concurrently (asyncio) under AReaL's staleness rule.

It is the trainer's `RolloutSource`. A launcher task keeps starting whole groups (n episodes of one
question) while `StalenessController.capacity() >= group_size`; each episode is scored on completion
and accepted or dropped with a typed `DropReason`; a finished group goes through dynamic filtering
(`filter_groups` + `FilterBudget`) into the buffer; `aget_batch(n)` hands the n oldest buffered groups
to the trainer. Generation never waits for the trainer: only the staleness bound stops new episodes.
With eta = 0 exactly one batch is generated per policy version, i.e. synchronous RL on the same code path.

Long episodes: a group started at version s is *due* when the trainer reaches version s + eta (the
last update that may train its tokens). Shorter groups started later can overtake it; with
`rollout.overtaken=wait` (default) `aget_batch` then waits until every due group has finished, so
the long tail is trained within the bound instead of lost; with `drop` it trains what has finished
and the overtaken group is dropped later as `DropReason.TOO_STALE`. Either way a buffered group that
is too stale (e.g. after a resume) is dropped, never trained.

An episode the model or the world failed never stops the run: running past `rollout.episode_timeout_s`
(a hung engine or tool) drops it as `timeout`; an exception that `failures.classify` calls the world's
drops it as `engine_error` (the engine's `HTTPEngineError`, with `EngineUnavailable` and `NoHealthyEngine`;
`ContextLimitError`; `RetrievalError`; httpx's errors; `TimeoutError`; `ConnectionError`; running out of
memory: `MemoryError`, torch's `OutOfMemoryError`, torch's CPU allocator failure), and so does a
cancellation inside the agent (a closed engine's request); its group finishes with the others. Any other
exception (a TypeError in the agent, a KeyError in the reward, a RuntimeError in general) is a bug of
ours: it ends the run with its traceback, raised by the trainer's next `aget_batch`, never dropped silently.

Episode seeds depend only on (rollout.seed, epoch, question position, sample index), so a resumed run
restarts its in-flight groups with the same seeds (checkpoints store them via `state_dict()`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from asearcher.api.agent import Agent
from asearcher.api.qa import AUG_ANSWER_KEY, QAItem
from asearcher.api.trajectory import Trajectory
from asearcher.failures import EpisodeTimeout, acapped, classify
from asearcher.rl.rollout.config import RolloutConfig
from asearcher.rl.rollout.data import Draw, TrainData
from asearcher.rl.rollout.filtering import FilterBudget, FilterConfig, filter_groups
from asearcher.rl.rollout.staleness import DroppedRollout, DropReason, StalenessController, is_too_stale

logger = logging.getLogger(__name__)

RewardFn = Callable[[Trajectory], Awaitable[float | None]]
AgentFactory = Callable[[int], Agent]  # episode seed -> a fresh agent


async def _wait_event(event: asyncio.Event, timeout: float) -> bool:
    """Wait for `event` at most `timeout` seconds; whether it was set."""
    try:
        await asyncio.wait_for(event.wait(), timeout)
        return True
    except TimeoutError:
        return False


def episode_seed(base: int, draw: Draw, sample: int) -> int:
    """Sampling seed of one episode: a function of where it comes from, never of timing."""
    return random.Random(f"{base}-{draw.epoch}-{draw.index}-{sample}").randrange(2**31)


@dataclass(eq=False)
class _Group:
    """A question's n episodes in flight."""

    gid: int  # start order; batches take the oldest groups first
    draw: Draw
    version: int  # policy version when it started: due for training at version + eta
    pending: int
    done: list[Trajectory] = field(default_factory=list)
    tasks: list[asyncio.Task] = field(default_factory=list)


@dataclass
class ExecutorStats:
    """Counters since the last `pop_stats()`."""

    episodes: int = 0  # finished (accepted or dropped)
    gen_tokens: int = 0  # tokens sampled by the policy in finished episodes
    generating_s: float = 0.0  # wall time with at least one episode in flight
    overtaken_wait_s: float = 0.0  # time the trainer waited only for due groups still running (overtaken=wait)
    drops: dict[str, int] = field(default_factory=lambda: defaultdict(int))


class RolloutExecutor:
    """Runs episodes while the trainer trains; see the module docstring."""

    overtaken_warn_s = 300.0  # log a warning this often while the trainer waits for due groups

    def __init__(self, agent_factory: AgentFactory, data: TrainData, reward_fn: RewardFn,
                 controller: StalenessController, config: RolloutConfig, filter_config: FilterConfig) -> None:
        self.agent_factory = agent_factory
        self.data = data
        self.reward_fn = reward_fn
        self.controller = controller
        self.config = config
        self.filter_config = filter_config
        self.budget = FilterBudget(filter_config)
        self.buffer: list[tuple[int, list[Trajectory]]] = []  # (gid, group), accepted and kept
        self.recent_drops: list[DroppedRollout] = []  # for logging; cleared by pop_stats
        self._groups: dict[int, _Group] = {}
        self._requeue: list[Draw] = []  # restored in-flight groups: restarted first
        self._next_gid = 0
        self._outstanding: dict[int, int] = defaultdict(int)  # groups drawn and not finished, per epoch
        self._closing_epoch = data.epoch  # next epoch whose end FilterBudget has not been told yet
        self._stats = ExecutorStats()
        self._busy_since: float | None = None
        self._error: BaseException | None = None
        self._wake = asyncio.Event()  # launcher: capacity may have changed
        self._changed = asyncio.Event()  # consumers: buffer or state changed
        self._launcher: asyncio.Task | None = None

    # ---- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Start the launcher on the running event loop."""
        if self._launcher is None:
            self._launcher = asyncio.get_running_loop().create_task(self._launch_loop(), name="rollout-launcher")

    async def aclose(self) -> None:
        """Cancel the launcher and every episode in flight (each counted as CANCELLED)."""
        tasks = [t for g in self._groups.values() for t in g.tasks if not t.done()]
        if self._launcher is not None:
            tasks.append(self._launcher)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._launcher = None

    @property
    def in_flight(self) -> int:
        return self.controller.state.running

    @property
    def exhausted(self) -> bool:
        """No question left to start and nothing in flight: the buffer is all there will be."""
        return self.data.exhausted and not self._requeue and not self._groups

    # ---- launching --------------------------------------------------------------------------

    async def _launch_loop(self) -> None:
        try:
            while True:
                self._fill()
                self._wake.clear()
                await self._wake.wait()
        except asyncio.CancelledError:
            raise
        except BaseException as e:  # FilteringStalled or a bug: the trainer must see it, not hang
            self._fail(e)

    def _take_draw(self) -> Draw | None:
        if self._requeue:
            return self._requeue.pop(0)  # already counted in _outstanding
        draw = self.data.next()
        if draw is not None:
            self._outstanding[draw.epoch] += 1
        return draw

    def _fill(self) -> None:
        n = self.config.group_size
        while self._error is None and self.controller.capacity() >= n:
            draw = self._take_draw()
            if draw is None:
                break
            group = _Group(self._next_gid, draw, pending=n, version=self.controller.version)
            self._next_gid += 1
            self._groups[group.gid] = group
            for sample in range(n):
                self.controller.on_start()
                seed = episode_seed(self.config.seed, draw, sample)
                group.tasks.append(asyncio.get_running_loop().create_task(
                    self._episode(group, sample, seed), name=f"episode-{group.gid}-{sample}"))
            self._mark_busy()
        self._close_epochs()

    def _mark_busy(self) -> None:
        running = self.controller.state.running
        now = time.perf_counter()
        if running > 0 and self._busy_since is None:
            self._busy_since = now
        elif running == 0 and self._busy_since is not None:
            self._stats.generating_s += now - self._busy_since
            self._busy_since = None

    # ---- one episode ------------------------------------------------------------------------

    async def _episode(self, group: _Group, sample: int, seed: int) -> None:
        item = group.draw.item
        try:
            traj, reason, detail = await self._run_and_score(item, seed, group.version)
        except asyncio.CancelledError:
            self._drop(DroppedRollout(DropReason.CANCELLED, item.id, "cancelled", self.controller.version))
            self._mark_busy()
            raise
        except BaseException as e:  # a bug in the reward/agent code: stop the run loudly
            self._fail(e)
            return
        try:
            self._stats.episodes += 1
            if traj is not None:
                self._stats.gen_tokens += traj.num_sampled_tokens
            if reason is None:
                assert traj is not None
                traj.metadata.update({"group": group.gid, "sample": sample, "epoch": group.draw.epoch, "seed": seed})
                self.controller.on_accept()
                group.done.append(traj)
            else:
                self._drop(DroppedRollout(reason, item.id, detail, self.controller.version, traj))
            group.pending -= 1
            self._mark_busy()
            if group.pending == 0:
                self._finish_group(group)  # may raise FilteringStalled
            self._wake.set()
        except BaseException as e:
            self._fail(e)

    async def _run_and_score(self, item: QAItem, seed: int,
                             start_version: int) -> tuple[Trajectory | None, DropReason | None, str]:
        agent = self.agent_factory(seed)
        try:
            traj = await acapped(agent.arun(item.question, qid=item.id, gold=list(item.golds)),
                                 self.config.episode_timeout_s)
        except EpisodeTimeout as e:  # a hung engine or tool: this episode fails, its group and the trainer go on
            logger.warning("episode %s failed: %s", item.id, e)
            return None, DropReason.TIMEOUT, str(e)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # this episode was cancelled (shutdown, resume)
            # Something inside the agent was cancelled (e.g. a closed engine's request): a failed episode,
            # which must still finish its group, or a trainer waiting for that group would wait forever.
            logger.warning("episode %s failed: a request it awaited was cancelled", item.id)
            return None, DropReason.ENGINE_ERROR, "CancelledError inside the agent"
        except Exception as e:  # deliberate fault tolerance, for the world's failures only
            failure = classify(e)
            if failure is None:
                raise  # a bug of ours: _episode stops the run with it
            logger.warning("episode %s failed: %s: %s", item.id, failure.kind, failure.message)
            return None, DropReason.ENGINE_ERROR, f"{failure.kind}: {failure.message}"
        if traj is None:
            return None, DropReason.AGENT_REJECTED, "the agent returned None"
        traj.metadata["start_version"] = start_version
        if item.metadata.get(AUG_ANSWER_KEY):  # the reward's partial credit (reward/rewards.py AUG_GOLDS_KEY)
            traj.metadata["aug_golds"] = list(item.metadata[AUG_ANSWER_KEY])
        if traj.num_sampled_tokens == 0 or any(len(s.logprobs) != len(s.token_ids) for s in traj.segments):
            return traj, DropReason.NO_TOKENS, "no sampled token ids / logprobs"
        traj.reward = await self.reward_fn(traj)
        if traj.reward is None:
            return traj, DropReason.NO_REWARD, "the reward function skipped it"
        return traj, None, ""

    def _drop(self, dropped: DroppedRollout, accepted: bool = False) -> None:
        if accepted:
            self.controller.on_unaccept(dropped.reason)
        else:
            self.controller.on_reject(dropped.reason)
        self._stats.drops[dropped.reason.value] += 1
        self.recent_drops.append(dropped)
        logger.debug("dropped %s: %s (%s)", dropped.qid, dropped.reason.value, dropped.detail)

    def _finish_group(self, group: _Group) -> None:
        del self._groups[group.gid]
        self._outstanding[group.draw.epoch] -= 1
        if group.done:
            self.data.record(group.draw, [t.reward or 0.0 for t in group.done])  # difficulty-aware sampling
            if self.filter_config.enabled:
                kept, dropped = filter_groups([group.done], self.filter_config.tolerance, self.controller.version)
            else:
                kept, dropped = [group.done], []
            for d in dropped:
                self._drop(d, accepted=True)
            if kept:
                self.buffer.append((group.gid, kept[0]))
            if self.filter_config.enabled and self.budget.record(kept=bool(kept)):
                self.data.end_epoch()  # on_exhausted=end_epoch: start the next epoch now
        self._close_epochs()
        self._changed.set()

    def _close_epochs(self) -> None:
        """Tell FilterBudget about every epoch that is fully drawn and fully finished."""
        while self._closing_epoch < self.data.epoch and self._outstanding[self._closing_epoch] == 0:
            self._closing_epoch += 1
            if self.filter_config.enabled:
                self.budget.end_epoch()

    def _fail(self, e: BaseException) -> None:
        if self._error is None:
            self._error = e
        self._changed.set()

    # ---- the trainer's side -----------------------------------------------------------------

    async def aget_batch(self, n_groups: int) -> list[list[Trajectory]]:
        """The n oldest finished groups within the staleness bound; fewer only when the data is exhausted.

        With `overtaken=wait` it also waits for every running group that is due at this version (see the
        module docstring) and returns every due group: usually among the n oldest, more than n only when
        partial groups (dropped episodes) let more than one batch's worth of groups start at one version.
        """
        eta = self.config.max_staleness
        waiting_since: float | None = None  # the buffer was full but due groups were still running
        while True:
            if self._error is not None:
                raise self._error
            version = self.controller.version
            for gid, group in list(self.buffer):
                if any(is_too_stale(t, version, eta) for t in group):
                    self.buffer.remove((gid, group))
                    for t in group:
                        self._drop(DroppedRollout(DropReason.TOO_STALE, t.qid, "overtaken", version, t), accepted=True)
                    self._wake.set()
            full = len(self.buffer) >= n_groups or self.exhausted
            if full and not self._due_running(version):
                break
            if full and waiting_since is None:
                waiting_since = time.perf_counter()
            self._changed.clear()
            if waiting_since is None:
                await self._changed.wait()
            elif not await _wait_event(self._changed, self.overtaken_warn_s):
                self._warn_overtaken(version, time.perf_counter() - waiting_since)
        if waiting_since is not None:
            self._stats.overtaken_wait_s += time.perf_counter() - waiting_since
        self.buffer.sort(key=lambda x: x[0])
        # Every due group goes into this batch, even when partial groups let more than n be due at once:
        # after this update they would be too stale, and the trainer may have waited for them.
        # (the episodes of a group share its start version)
        due = sum(1 for _, g in self.buffer if self._is_due(g[0].metadata.get("start_version", version), version))
        n = max(n_groups, due) if self.config.overtaken == "wait" else n_groups
        taken, self.buffer = self.buffer[:n], self.buffer[n:]
        groups = [g for _, g in taken]
        self.controller.on_consume(sum(len(g) for g in groups))
        return groups

    def _is_due(self, start_version: int, version: int) -> bool:
        """A group started at `start_version` must be trained by this version's update (the last within eta)."""
        return version - start_version >= self.config.max_staleness

    def _due_running(self, version: int) -> list[_Group]:
        """Running groups that must be trained by this version's update (only the wait policy waits for them)."""
        if self.config.overtaken != "wait":
            return []
        return [g for g in self._groups.values() if self._is_due(g.version, version)]

    def _warn_overtaken(self, version: int, waited_s: float) -> None:
        due = self._due_running(version)
        logger.warning("the trainer has waited %.0f s for %d overtaken group(s) due at version %d (questions %s, "
                       "started at versions %s); rollout.overtaken=drop would train without them", waited_s, len(due),
                       version, [g.draw.item.id for g in due[:5]], sorted({g.version for g in due}))

    def on_version(self, version: int) -> None:
        """The engine now serves `version`: more episodes may start."""
        self.controller.on_version(version)
        self._wake.set()

    def pop_stats(self) -> ExecutorStats:
        """Counters since the last call (generation time includes the current busy stretch)."""
        now = time.perf_counter()
        if self._busy_since is not None:
            self._stats.generating_s += now - self._busy_since
            self._busy_since = now
        stats, self._stats = self._stats, ExecutorStats()
        self.recent_drops = []
        return stats

    # ---- checkpoints ------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """What resuming needs besides the buffer: groups to restart, ids, filter budget, epochs."""
        in_flight = [g.draw for g in sorted(self._groups.values(), key=lambda g: g.gid)] + self._requeue
        return {
            "restart": [{"item": asdict(d.item), "epoch": d.epoch, "index": d.index} for d in in_flight],
            "next_gid": self._next_gid,
            "closing_epoch": self._closing_epoch,
            "budget": self.budget.state_dict(),
            "controller": self.controller.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any], buffer: list[tuple[int, list[Trajectory]]]) -> None:
        """Restore before `start()`: in-flight groups restart, `buffer` (from the checkpoint) is trainable."""
        self._requeue = [Draw(QAItem(**r["item"]), int(r["epoch"]), int(r["index"])) for r in state["restart"]]
        self._outstanding = defaultdict(int)
        for d in self._requeue:
            self._outstanding[d.epoch] += 1
        self._next_gid = int(state["next_gid"])
        self._closing_epoch = int(state["closing_epoch"])
        self.budget.load_state_dict(state["budget"])
        self.buffer = list(buffer)
        self.controller.load_state_dict(state["controller"], buffered=sum(len(g) for _, g in buffer))
