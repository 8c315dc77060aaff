"""One module per reranker: its params and its `Reranker` class, registered by name in
`rerank.registry`. The batched kernels they call live in `rerank` (imported when a step runs)."""
