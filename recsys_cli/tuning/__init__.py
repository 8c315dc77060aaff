"""`rank tune`: hyperparameter and multi-objective search over recipe keys with Optuna.

Trials are scored on the validation part of the split only; the test part is read once, at the
end, for the best (or every Pareto-optimal) configuration. `space` reads the search space,
`spec` the rest of the `[tune]` table, `trials` runs recipes against data prepared once, and
`study` drives Optuna's ask/tell loop over a durable journal file.
"""
