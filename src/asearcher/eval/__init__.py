"""Evaluation: benchmark loaders, the resumable runner, metrics (Avg@k, Pass@k), test-time scaling, reports."""
