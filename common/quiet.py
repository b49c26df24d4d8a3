"""Silence two third-party warnings that are wrong or irrelevant for this pipeline, and only those.

- TRL warns that packing without Flash Attention may let rows attend to each other; with
  transformers >= 4.54 the position ids give SDPA a block-diagonal mask (tests/test_losses.py
  proves the packed loss equals the rows' separate losses).
- bitsandbytes on CPU announces an optional kernel package from the hub, which cannot be
  downloaded offline and is not needed (only its NF4 quantize/dequantize is used here).
"""

from __future__ import annotations

import logging

_MUTED = {
    "trl.trainer.sft_trainer": ("Flash Attention variant",),
    "bitsandbytes.backends.cpu.ops": ("kernels-community",),
}


class _Mute(logging.Filter):
    def __init__(self, needles: tuple[str, ...]) -> None:
        super().__init__()
        self.needles = needles

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(needle in message for needle in self.needles)


def quiet_known_warnings() -> None:
    for name, needles in _MUTED.items():
        logger = logging.getLogger(name)
        if not any(isinstance(existing, _Mute) for existing in logger.filters):
            logger.addFilter(_Mute(needles))
