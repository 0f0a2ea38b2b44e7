"""rl/distributed/shard_load.py's pure parts: FSDP2's row split, and whether a folder can fill a model's
shards (the 2-rank loading itself: test_meta_load_slow.py)."""

from __future__ import annotations

import json

import torch
from safetensors.torch import save_file

from asearcher.rl.distributed.shard_load import can_load_shards, checkpoint_files, chunk_rows
from asearcher.rl.train.model import LoraConfig, build_meta_trainer_model
from engines.tiny_hf import tiny_hf_folder  # tests/ is on sys.path (its conftest.py)


def test_chunk_rows_splits_like_torch_chunk():
    assert [chunk_rows(259, 2, r) for r in range(2)] == [(0, 130), (130, 259)]
    assert [chunk_rows(10, 3, r) for r in range(3)] == [(0, 4), (4, 8), (8, 10)]
    assert [chunk_rows(3, 4, r) for r in range(4)] == [(0, 1), (1, 2), (2, 3), (3, 3)]  # the last holds none
    for n, world in [(259, 2), (10, 3), (3, 4), (7, 7), (896, 8)]:  # torch.chunk's sizes, padded with empties
        sizes = [len(c) for c in torch.arange(n).chunk(world)]
        assert [b - a for a, b in (chunk_rows(n, world, r) for r in range(world))] == sizes + [0] * (world - len(sizes))


def test_a_safetensors_folder_fills_a_tied_model_and_a_bin_folder_does_not(tmp_path):
    folder = tiny_hf_folder(tmp_path / "tied", tie_word_embeddings=True)
    model = build_meta_trainer_model(folder, "auto", LoraConfig(), seed=0)
    assert "lm_head.weight" not in checkpoint_files(folder)  # HF saves a tied weight once
    assert can_load_shards(folder, model)
    (folder / "model.safetensors").rename(tmp_path / "weights.safetensors")
    torch.save({}, folder / "pytorch_model.bin")
    assert checkpoint_files(folder) == {} and not can_load_shards(folder, model)


def test_a_sharded_checkpoint_is_read_through_its_index_and_a_missing_weight_is_noticed(tmp_path):
    folder = tiny_hf_folder(tmp_path / "tiny")
    model = build_meta_trainer_model(folder, "auto", LoraConfig(), seed=0)
    from safetensors.torch import load_file

    state = load_file(folder / "model.safetensors")
    (folder / "model.safetensors").unlink()
    names = sorted(state)
    halves = {"model-00001-of-00002.safetensors": names[::2], "model-00002-of-00002.safetensors": names[1::2]}
    for file, keys in halves.items():
        save_file({k: state[k] for k in keys}, folder / file)
    weight_map = {k: file for file, keys in halves.items() for k in keys}
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    assert {k: p.name for k, p in checkpoint_files(folder).items()} == weight_map
    assert can_load_shards(folder, model)
    del weight_map["lm_head.weight"]  # untied: lm_head has no other name to be read under
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    assert not can_load_shards(folder, model)
