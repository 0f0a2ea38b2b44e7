"""One run in one process: the training loop (the orchestrator), the components it is wired from,
held-out evaluation, the metrics sink and the report."""
