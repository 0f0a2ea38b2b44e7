"""Token sampling for the in-process engine, and the definition of the behaviour logprob it reports.

Behaviour logprob (what `GenResult.logprobs` holds for `TransformersEngine`):

    logprob = log_softmax(logits / T)[token]        for temperature T > 0
    logprob = log_softmax(logits)[token]            for greedy decoding (T == 0)

computed in float32 over the FULL vocabulary, i.e. top-p truncation is NOT folded in (the token
was drawn from the renormalised nucleus, whose log-probability is this value minus log(nucleus
mass)). This is the convention of AReaL / verl: the trainer recomputes the same quantity with
`log_softmax(model(context).logits / T)` at the same positions, with no top-p, and the two agree up
to floating-point differences of the forward pass (batching, padding, kernels).
"""

from __future__ import annotations

import torch


def sample_token(
    logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator | None
) -> tuple[int, float]:
    """Pick the next token from one row of logits (shape [vocab]); return (token id, behaviour logprob)."""
    logits = logits.float()
    if temperature <= 0.0:
        logp = torch.log_softmax(logits, dim=-1)
        token = int(torch.argmax(logits))
        return token, float(logp[token])
    logp = torch.log_softmax(logits / temperature, dim=-1)
    probs = logp.exp()
    if top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        # Keep the smallest prefix whose mass reaches top_p (the first token always survives).
        keep = torch.cumsum(sorted_probs, dim=-1) - sorted_probs < top_p
        nucleus = torch.zeros_like(probs)
        nucleus[order[keep]] = sorted_probs[keep]
        probs = nucleus
    token = int(torch.multinomial(probs, 1, generator=generator))
    return token, float(logp[token])
