"""Where training records go besides metrics.jsonl: Weights & Biases, and the trained trajectories.

Both are optional sinks the training loop calls with what it already has; neither imports rl/.
"""
