"""Metric kernels: accuracy, beyond-accuracy and business proxies, all with per-user values."""
