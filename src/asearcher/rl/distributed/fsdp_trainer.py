"""`FSDPTrainer`: the PPO trainer (rl/interfaces.PolicyTrainer) on several processes with PyTorch FSDP2.

Same update as the single-process `rl.trainer.Trainer`, data parallel over the ranks of the default
process group:

  - the model is sharded with `fully_shard` per decoder layer, then the root (embeddings, final norm
    and LM head); parameters are computed in `param_dtype` (bf16 on GPUs) from fp32 master weights, and
    gradients are reduce-scattered in fp32 (`MixedPrecisionPolicy`);
  - every rank is given the whole batch (the same `samples`); its sequences (after prefix merging,
    rl/algo/packing.py) are spread over the ranks balanced by tokens, and each rank packs its share into
    token-budgeted micro-batches. Ranks with fewer micro-batches run zero-loss dummy passes so every rank
    makes the same number of forward/backward collectives;
  - the loss normaliser is the GLOBAL count (loss tokens, or trained sequences) all-reduced over ranks,
    and FSDP's gradient averaging is turned off (divide factor 1), so the summed gradient equals the
    single-process gradient of the whole batch;
  - grad-norm clipping over the sharded gradients (`clip_grad_norm_` on DTensors), then AdamW.

All methods here are collectives: every rank must call them, in the same order (the Ray launcher calls
each trainer actor; under torchrun rl/distributed/torchrun.py makes rank 0 drive the others).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from asearcher.rl.algo.advantages import TrainSample
from asearcher.rl.algo.logprobs import packed_logprobs
from asearcher.rl.algo.packing import MicroBatch, PackedSequence, first_fit_decreasing, merge_prefixes, to_micro_batch
from asearcher.rl.algo.version_stats import version_lag_stats
from asearcher.rl.distributed.config import FSDPConfig
from asearcher.rl.interfaces import Buffer, Checkpoint
from asearcher.rl.train.trainer import (
    TrainerConfig,
    autocast_context,
    clip_gradients,
    count_normaliser,
    train_micro_batch,
)

logger = logging.getLogger(__name__)


def _dtype(name: str, device: torch.device) -> torch.dtype:
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return getattr(torch, name)


def is_peft_model(model: Any) -> bool:
    return hasattr(model, "merge_adapter") and hasattr(model, "get_base_model")


def _hf_model(model: Any) -> Any:
    return model.get_base_model() if is_peft_model(model) else model


def decoder_layers(model: Any) -> list[torch.nn.Module]:
    """The transformer blocks of an HF causal LM (peft-wrapped or not): the units sharded one by one."""
    base = _hf_model(model)
    inner = getattr(base, getattr(base, "base_model_prefix", "model"), None)
    layers = getattr(inner, "layers", None)
    if layers is None:
        raise ValueError(f"{type(base).__name__}: no decoder layers found at .{base.base_model_prefix}.layers")
    return list(layers)


def lora_scalings(model: Any) -> dict[str, float]:
    """Module name (in the peft model's state-dict naming) -> LoRA scaling of the active adapter."""
    if not is_peft_model(model):
        return {}
    out = {}
    for name, mod in model.named_modules():
        scaling, active = getattr(mod, "scaling", None), getattr(mod, "active_adapters", None)
        if isinstance(scaling, dict) and hasattr(mod, "lora_A") and active:
            out[name] = float(scaling[active[0]])
    return out


def merge_lora(state: dict[str, torch.Tensor], scalings: dict[str, float]) -> dict[str, torch.Tensor]:
    """A full peft state dict -> merged full weights under the base model's names (W + s * B @ A), what
    `weight_sync.export_state_dict` gives for an unsharded peft model. No-op without `scalings`."""
    if not scalings:
        return state
    out: dict[str, torch.Tensor] = {}
    for key, t in state.items():
        if ".lora_" in key:
            continue
        if ".base_layer." in key:
            module = key.split(".base_layer.")[0]
            if key.endswith(".weight") and module in scalings:
                a = next(v for k, v in state.items() if k.startswith(module + ".lora_A.") and k.endswith(".weight"))
                b = next(v for k, v in state.items() if k.startswith(module + ".lora_B.") and k.endswith(".weight"))
                t = (t.float() + scalings[module] * (b.float() @ a.float())).to(t.dtype)
            key = key.replace(".base_layer.", ".")
        out[key.removeprefix("base_model.model.")] = t
    return out


def balance(lengths: Sequence[int], n_ranks: int) -> list[list[int]]:
    """Indices of `lengths` split over `n_ranks`, longest first to the rank with the fewest tokens so far."""
    shares: list[list[int]] = [[] for _ in range(n_ranks)]
    load = [0] * n_ranks
    for i in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
        r = min(range(n_ranks), key=lambda r: (load[r], len(shares[r]), r))
        shares[r].append(i)
        load[r] += lengths[i]
    return shares


def shard_model(model: torch.nn.Module, fsdp: FSDPConfig, device: torch.device) -> None:
    """`fully_shard` every decoder layer, then the root, on a 1-D mesh over all ranks (in place)."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import FSDPModule, MixedPrecisionPolicy, fully_shard

    mesh = init_device_mesh(device.type, (dist.get_world_size(),))
    mp = MixedPrecisionPolicy(param_dtype=_dtype(fsdp.param_dtype, device), reduce_dtype=_dtype(fsdp.reduce_dtype, device))
    for layer in decoder_layers(model):
        fully_shard(layer, mesh=mesh, mp_policy=mp, reshard_after_forward=fsdp.reshard_after_forward)
    fully_shard(model, mesh=mesh, mp_policy=mp, reshard_after_forward=fsdp.reshard_after_forward)
    for m in model.modules():
        if isinstance(m, FSDPModule):
            # Each rank's loss is already its share of the global batch loss (global normaliser): the
            # gradient is the SUM over ranks, not FSDP's default mean.
            m.set_gradient_divide_factor(1.0)
            # plain SUM collectives: a custom factor would otherwise use NCCL's PREMUL_SUM, which gloo lacks
            m.set_force_sum_reduction_for_comms(True)


def is_on_meta(model: torch.nn.Module) -> bool:
    """Whether `model`'s parameters are on the meta device (rl/train/model.build_meta_trainer_model)."""
    return any(p.is_meta for p in model.parameters())


def materialise(model: torch.nn.Module, device: torch.device, buffers: dict[str, torch.Tensor]) -> None:
    """Give a sharded meta model real (uninitialised) storage on `device`: only this rank's shard of each
    parameter; then put back `buffers` (name -> value taken before, e.g. the rotary inv_freq, which no
    checkpoint holds), since `to_empty` leaves every buffer uninitialised too. Tied parameters (lm_head =
    embed_tokens) stay one parameter (FSDP2 keeps them so; a plain module's `to_empty` would split them)."""
    by_id: dict[int, list[str]] = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        by_id.setdefault(id(p), []).append(name)
    model.to_empty(device=device)
    for first, *aliases in (names for names in by_id.values() if len(names) > 1):
        param = model.get_parameter(first)
        for name in aliases:
            if model.get_parameter(name) is not param:
                owner, _, leaf = name.rpartition(".")
                setattr(model.get_submodule(owner), leaf, param)
    with torch.no_grad():
        for name, buf in model.named_buffers():
            buf.copy_(buffers[name])


def _to(mb: MicroBatch, device: torch.device) -> MicroBatch:
    if device.type == "cpu":
        return mb
    return dataclasses.replace(mb, **{f.name: getattr(mb, f.name).to(device) for f in dataclasses.fields(mb)})


def _dummy_micro_batch() -> MicroBatch:
    """Two tokens, nothing trained: a rank with fewer micro-batches runs this so collectives stay matched."""
    seq = PackedSequence([0, 0], [0, 0], [0.0, 0.0], [-1, -1], [0.0, 0.0], -1)
    return to_micro_batch([seq])


class FSDPTrainer:
    """Shards `model` over the default process group and trains it; `version` counts updates.

    `model`: an HF causal LM (optionally peft-wrapped), on CPU or on this rank's device; it is moved to
    `device` and sharded in place. Rank 0's weights are what every rank starts from: the other ranks may
    pass the same modules on the meta device (rl/train/model.build_meta_trainer_model), which then hold
    only their shards, so host memory does not grow with the number of ranks. With `weights_from` (a
    safetensors model folder holding every weight, rl/distributed/shard_load.can_load_shards) every rank,
    rank 0 included, passes a meta model and reads only its own shards from the files: nothing is
    broadcast. The process group must be initialised (rl/distributed/torchrun.init_distributed).
    """

    def __init__(self, model: torch.nn.Module, config: TrainerConfig, fsdp: FSDPConfig | None = None,
                 version: int = 0, device: torch.device | str | None = None,
                 weights_from: str | Path | None = None) -> None:
        if not dist.is_initialized():
            raise RuntimeError("FSDPTrainer needs an initialised process group (rl/distributed/torchrun.init_distributed)")
        config.validate()
        self.config = config
        self.fsdp = fsdp or FSDPConfig()
        self.version = version
        self.rank, self.world_size = dist.get_rank(), dist.get_world_size()
        self.device = torch.device(device) if device is not None else _default_device()
        self.hf_config = _hf_model(model).config
        self._scalings = lora_scalings(model)
        if self.fsdp.gradient_checkpointing:
            _hf_model(model).gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        self.model = self._shard_and_fill(model, weights_from)
        params = [p for p in model.parameters() if p.requires_grad]  # LoRA: the adapters only
        self.optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay,
                                           betas=tuple(config.adam_betas))

    def _shard_and_fill(self, model: torch.nn.Module, weights_from: str | Path | None) -> torch.nn.Module:
        """Shard `model` in place and give every rank its shards' values: read by each rank from
        `weights_from` (a safetensors folder, rl/distributed/shard_load.py), else broadcast from rank 0."""
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

        on_meta = is_on_meta(model)
        if on_meta and self.rank == 0 and weights_from is None:
            raise ValueError("rank 0 holds the weights every rank starts from: its model cannot be on the meta device")
        buffers = {} if not on_meta else {k: b.clone() for k, b in model.named_buffers()}
        if not on_meta:
            model.to(self.device)
        rank0_weights = model.state_dict() if self.rank == 0 and weights_from is None else {}  # views, not copies
        shard_model(model, self.fsdp, self.device)
        if on_meta:
            materialise(model, self.device, buffers)
        if weights_from is not None:
            from asearcher.rl.distributed.shard_load import load_local_shards

            load_local_shards(model, weights_from)
            return model
        # fully_shard keeps each rank's slice of its own copy (uninitialised for a meta model): broadcast
        # rank 0's weights so that ranks built with different seeds (LoRA init), from a different file or
        # on the meta device all start identical. Each rank keeps only its slice of each broadcast tensor.
        set_model_state_dict(model, rank0_weights, options=StateDictOptions(full_state_dict=True,
                                                                             broadcast_from_rank0=True))
        return model

    # ---- the update ---------------------------------------------------------------------------

    def _my_micro_batches(self, samples: Sequence[TrainSample]) -> tuple[list[MicroBatch], list[PackedSequence]]:
        seqs = [q for i, s in enumerate(samples) for q in merge_prefixes(s, i)]
        if not seqs:
            raise ValueError("empty batch: no sample has any token")
        lengths = [len(q) for q in seqs]
        # The same check (and UserError) on every rank, before any collective: a rank that raised alone
        # would leave the others waiting.
        first_fit_decreasing([max(lengths)], self.config.max_tokens_per_mb)
        mine = [seqs[i] for i in balance(lengths, self.world_size)[self.rank]]
        bins = first_fit_decreasing([len(q) for q in mine], self.config.max_tokens_per_mb) if mine else []
        return [to_micro_batch([mine[i] for i in b]) for b in bins], seqs

    def _logp(self, mb: MicroBatch, only: torch.Tensor | None) -> torch.Tensor:
        c = self.config
        with autocast_context(c.autocast, self.device):
            return packed_logprobs(self.model, mb.input_ids, mb.position_ids, mb.cu_seqlens, c.temperature,
                                   c.logprob_method, only=only).logp

    def step(self, samples: Sequence[TrainSample]) -> dict[str, float]:
        """One update on the whole batch `samples` (the same on every rank); the stats of the whole batch."""
        t0 = time.perf_counter()
        c = self.config
        mbs, seqs = self._my_micro_batches(samples)
        counts = torch.tensor([len(mbs), count_normaliser(mbs, c.loss.aggregation)], dtype=torch.float64)
        gathered = _all_gather(counts.to(self.device))
        n_passes, norm = int(gathered[:, 0].max()), float(max(gathered[:, 1].sum(), 1.0))
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        totals: dict[str, float] = {}
        loss_sum, diff = 0.0, [0.0, 0.0, 0.0]  # |prox - behav|: sum, count, max
        for i in range(n_passes):
            if i >= len(mbs):  # dummy pass: same collectives, zero gradient
                mb = _to(_dummy_micro_batch(), self.device)
                (self._logp(mb, None).sum() * 0.0).backward()
                continue
            mb = _to(mbs[i], self.device)
            loss, prox = train_micro_batch(self._logp(mb, mb.loss_mask), mb, c, norm, totals)
            loss_sum += loss
            d = (prox - mb.behav_logp)[mb.loss_mask & (mb.versions == self.version)].abs()
            if d.numel():
                diff = [diff[0] + float(d.sum()), diff[1] + d.numel(), max(diff[2], float(d.max()))]
        grad_norm = clip_gradients(self.model, c.max_grad_norm)
        self.optimizer.step()
        stats = self._reduce_stats(totals, loss_sum, diff)
        stats["grad_norm"] = float(grad_norm)
        stats |= version_lag_stats([torch.tensor(q.versions) for q in seqs],
                                   [torch.tensor(q.loss_mask, dtype=torch.bool) for q in seqs], self.version)
        stats |= {"n_micro_batches": float(gathered[:, 0].sum()), "version": float(self.version),
                  "time/step_s": time.perf_counter() - t0}
        self.version += 1
        return stats

    def _reduce_stats(self, totals: dict[str, float], loss_sum: float, diff: list[float]) -> dict[str, float]:
        """Token-weighted means over all ranks' micro-batches, the summed loss, engine/trainer agreement."""
        parts: list[Any] = [None] * self.world_size
        dist.all_gather_object(parts, (totals, loss_sum, diff))
        merged: dict[str, float] = {}
        for t, _, _ in parts:
            for k, v in t.items():
                merged[k] = merged.get(k, 0.0) + v
        n_tok = max(merged.pop("n_tokens", 0.0), 1.0)
        stats = {k: v / n_tok for k, v in merged.items()}
        stats["loss"] = sum(p[1] for p in parts)
        if self.config.recompute_prox:
            s, n, m = sum(p[2][0] for p in parts), sum(p[2][1] for p in parts), max(p[2][2] for p in parts)
            stats |= {"logp_diff/mean_abs": s / n, "logp_diff/max_abs": m} if n else {}
            stats["logp_diff/n_tokens"] = float(n)
        return stats

    # ---- weights out --------------------------------------------------------------------------

    def full_state_dict(self) -> dict[str, torch.Tensor]:
        """The trainer's full state dict (adapters unmerged) on rank 0's CPU; {} on the other ranks."""
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        return get_model_state_dict(self.model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))

    def export_weights(self) -> dict[str, torch.Tensor]:
        """What engines load (rl/interfaces.WeightSource): full tensors under the HF names, LoRA merged,
        on rank 0's CPU; {} on the other ranks. A collective."""
        state = self.full_state_dict()
        return merge_lora(state, self._scalings) if self.rank == 0 else {}

    def export_hf(self, folder: str | Path, dtype: torch.dtype | None = None, max_shard_size: str = "5GB",
                  copy_from: str | Path | None = None) -> Path:
        """Save an HF checkpoint (config.json + safetensors shards with index) that `from_pretrained`, vLLM
        and SGLang load; `dtype` casts floating tensors (e.g. bfloat16 to halve it); `copy_from` copies the
        tokenizer and generation-config files of that model folder. Written atomically by rank 0; a collective."""
        folder = Path(folder)
        state = self.export_weights()
        if self.rank == 0:
            write_hf_checkpoint(state, self.hf_config, folder, dtype, max_shard_size, copy_from)
        dist.barrier()
        return folder

    # ---- checkpoints (resume) -----------------------------------------------------------------

    def save_checkpoint(self, run_dir: str | Path, step: int, state: dict[str, Any], buffer: Buffer, keep_last: int
                        ) -> Path:
        """rl/train/checkpoint.py's layout, written by rank 0 from gathered full states (weights unmerged, AdamW
        state keyed by parameter name); only rank 0's `state` and `buffer` are used. A collective."""
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

        from asearcher.rl.train.checkpoint import PREFIX, save_checkpoint

        weights = self.full_state_dict()
        optim = get_optimizer_state_dict(self.model, self.optimizer,
                                         options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        if self.rank == 0:
            save_checkpoint(Path(run_dir), step, _Frozen(weights), _Frozen(optim), state, buffer, keep_last)
        dist.barrier()
        return Path(run_dir) / "checkpoints" / f"{PREFIX}{step:06d}"

    def load_checkpoint(self, path: str | Path) -> Checkpoint:
        """Load weights and AdamW state (read by rank 0, broadcast to the shards); every rank returns
        state.json's dict and the buffer. A collective."""
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            set_model_state_dict,
            set_optimizer_state_dict,
        )

        from asearcher.rl.train.checkpoint import load_checkpoint

        weights, optim, box = _Frozen({}), _Frozen({}), [None]
        if self.rank == 0:
            ck = load_checkpoint(Path(path), weights, optim)
            box = [(ck.state, ck.buffer)]
        opts = StateDictOptions(full_state_dict=True, broadcast_from_rank0=True)
        set_model_state_dict(self.model, weights.state, options=opts)
        set_optimizer_state_dict(self.model, self.optimizer, optim.state, options=opts)
        dist.broadcast_object_list(box, src=0)
        state, buffer = box[0]
        self.version = int(state["version"])
        return Checkpoint(Path(path), state, buffer)


class _Frozen:
    """A state dict behind `state_dict()` / `load_state_dict()`: lets rl/train/checkpoint.py write and read the
    gathered full states of a sharded model with its usual atomic layout."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state

    def state_dict(self) -> dict[str, Any]:
        return self.state

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> Any:
        self.state = state
        return torch.nn.modules.module._IncompatibleKeys([], [])


def write_hf_checkpoint(state: dict[str, torch.Tensor], hf_config: Any, folder: Path, dtype: torch.dtype | None = None,
                        max_shard_size: str = "5GB", copy_from: str | Path | None = None) -> Path:
    """config.json + `model*.safetensors` (+ index when sharded) in `folder`, atomically (temp folder, rename)."""
    import shutil

    from huggingface_hub import save_torch_state_dict

    if getattr(hf_config, "tie_word_embeddings", False):
        state = {k: v for k, v in state.items() if k != "lm_head.weight"}  # HF saves tied weights once
    if dtype is not None:
        state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    tmp = folder.with_name(folder.name + ".tmp-export")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if dtype is not None:
        hf_config = hf_config.__class__.from_dict(hf_config.to_dict())  # a copy that states the export's dtype
        hf_config.dtype = dtype
    hf_config.save_pretrained(tmp)
    save_torch_state_dict(state, tmp, max_shard_size=max_shard_size, metadata={"format": "pt"})
    if copy_from is not None:
        src = Path(copy_from)
        for pattern in ("tokenizer*", "special_tokens_map.json", "vocab.*", "merges.txt", "*.model",
                        "generation_config.json", "chat_template.*"):
            for f in src.glob(pattern):
                shutil.copy2(f, tmp / f.name)
    if folder.exists():
        shutil.rmtree(folder)
    tmp.rename(folder)
    logger.info("exported an HF checkpoint to %s (%d tensors)", folder, len(state))
    return folder


def _default_device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _all_gather(t: torch.Tensor) -> torch.Tensor:
    out = [torch.empty_like(t) for _ in range(dist.get_world_size())]
    dist.all_gather(out, t)
    return torch.stack(out).cpu()
