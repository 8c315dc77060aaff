"""Sweeps, and a run's scoring, reranking and evaluation, on a Dask distributed cluster, with
results identical to one process.

The only package that imports dask/distributed, always inside functions: `import recsys_cli` never
needs the `distributed` extra. Workers read and write run directories by path, so the results
directory must be on storage every worker sees at the same path (one machine, or a shared
filesystem such as NFS on a cluster).
"""
