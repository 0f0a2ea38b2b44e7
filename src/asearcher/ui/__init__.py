"""`asearcher ui`: a local web app over the agent (live ask), trajectories (explorer) and runs (dashboard).

It reads what `asearcher eval` and `asearcher train` write (results.jsonl, trajectories.jsonl,
metrics.jsonl, summary.json, config.yaml) and never writes into a run folder; `app.create_app` wires it.
"""
