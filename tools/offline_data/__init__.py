"""The offline data set's generator: data/*.jsonl and data/README.md from data/knowledge/conditions.yaml.

    python -m tools.offline_data [--out DIR] [--check]

Modules: knowledge (reads the knowledge base), vignettes, options, reasoning and responses
(compose one medical row), medical_rows (the multiple-choice and SFT files), general and
arithmetic (the replay rows), readme (data/README.md), build (all files from the seed) and
__main__ (the command line).
"""
