"""The one command over the stages: `r1med VERB --config FILE [key=value ...]`."""
