"""The offline data set's generator (data/*.jsonl and data/README.md)."""
