"""Beyond one process: cluster config and placement, the FSDP2 trainer, torchrun, the NCCL weight
broadcast and the Ray launcher, actors and clients. Only this package imports Ray or torch.distributed."""
