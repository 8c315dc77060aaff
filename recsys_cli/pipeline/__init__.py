"""The stages of a run, one module each: prepare (data in index space), fit (models and their
candidates), lists (reranking, evaluation in memory), store (the run directory, written once),
run (train or run a recipe, per seed) and sweep (grid points over one fit). `recsys_cli.experiment`
names their entry points."""
