"""Counterfactual (off-policy) evaluation on logged feedback: `rank ope`."""
