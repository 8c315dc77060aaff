"""The two-stage ranker: candidates pooled from several generators, ordered by LambdaMART.

`pool` unions the generators' top-N lists per user; `timeline` carves the label window off the
end of the training part and checks that no feature reads it; `features` builds the feature
matrix of a pool in batched numpy/scipy (no per-user loop); `labels` turns relevance and business
terms into graded gains; `learner` is the only module that imports LightGBM; `stage` runs the
whole timeline and returns the ranker's lists as one more model row.
"""
