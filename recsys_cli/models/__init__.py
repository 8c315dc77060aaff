"""Recommenders behind one protocol: fit on a training CSR, batched top-k recommend."""
