"""Packed rows attend in one varlen flash call per layer, also on torch 2.11.

Unsloth runs a padding-free packed micro-batch through torch's `varlen_attn` (one flash-attention
call per layer over all rows, bounded by cumulative sequence lengths) only when that function
takes `enable_gqa`, which arrived in torch 2.12. On torch 2.11 it falls back to one SDPA call per
run of equal-length rows, whose slicing and re-assembly cost more memory traffic than the
attention itself. torch 2.11's `varlen_attn` already runs the flash kernel that takes grouped
key/value heads natively, so only the keyword is missing: this supplies it.
`UNSLOTH_TORCH_VARLEN=0` turns both Unsloth's path and this one off.
"""

from __future__ import annotations

import inspect
import os


def use_varlen_for_packed_rows() -> str:
    """Give Unsloth's packed path torch's varlen kernel where torch has it without `enable_gqa`;
    returns which attention packed rows get, for the log."""
    import torch
    from unsloth.utils import attention_dispatch as dispatch

    if os.environ.get("UNSLOTH_TORCH_VARLEN", "1").lower() in ("0", "false", "no", "off"):
        return "one SDPA call per run of equal-length rows (UNSLOTH_TORCH_VARLEN=0)"
    if getattr(dispatch, "_TORCH_VARLEN_ATTN", "absent") is not None:
        return "Unsloth's own choice"  # torch >= 2.12, or an Unsloth without this dispatch table
    try:
        from torch.nn.attention.varlen import varlen_attn
    except ImportError:
        return "one SDPA call per run of equal-length rows (this torch has no varlen_attn)"
    if "window_size" not in inspect.signature(varlen_attn).parameters:
        return "one SDPA call per run of equal-length rows (this torch's varlen_attn has no window_size)"
    if not torch.backends.cuda.is_flash_attention_available():
        return "one SDPA call per run of equal-length rows (this torch was built without flash attention)"

    def varlen_attn_grouped(query, key, value, cu_seq_q, cu_seq_k, max_q, max_k, *, scale=None,
                            window_size=(-1, -1), enable_gqa=False):
        # the flash kernel reads query head h from key/value head h // (heads / kv_heads) by itself
        return varlen_attn(query, key, value, cu_seq_q, cu_seq_k, max_q, max_k, scale=scale,
                           window_size=window_size)

    dispatch._TORCH_VARLEN_ATTN = varlen_attn_grouped
    return "one varlen flash call per layer (torch varlen_attn)"
