"""On a CUDA GPU with Unsloth: packed rows attend in one varlen call per layer, and a packed batch's
loss and LoRA gradients equal those of its rows run one by one (no attention across rows)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("needs a CUDA GPU", allow_module_level=True)
pytest.importorskip("unsloth")

import torch.nn.functional as F  # noqa: E402
from unsloth.utils import attention_dispatch as dispatch  # noqa: E402

from train.packed_attention import use_varlen_for_packed_rows  # noqa: E402

LENGTHS = [700, 301, 1200, 64, 900]  # unequal: equal lengths would be one SDPA call anyway


def relative_error(got, want) -> float:
    return ((got.float() - want.float()).norm() / want.float().norm()).item()


class CountingVarlen:
    def __init__(self, inner):
        self.inner, self.calls = inner, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.inner(*args, **kwargs)


@pytest.fixture(scope="module")
def varlen_calls():
    chosen = use_varlen_for_packed_rows()
    assert "varlen" in chosen or chosen == "Unsloth's own choice", chosen
    assert dispatch._TORCH_VARLEN_ATTN is not None, "no varlen kernel for packed rows"
    counter = CountingVarlen(dispatch._TORCH_VARLEN_ATTN)
    dispatch._TORCH_VARLEN_ATTN = counter
    yield counter
    dispatch._TORCH_VARLEN_ATTN = counter.inner


def test_grouped_heads_varlen_equals_causal_attention_per_row(varlen_calls):
    torch.manual_seed(0)
    total, heads, kv_heads, dim = sum(LENGTHS), 32, 8, 128
    q = torch.randn(1, heads, total, dim, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    k = torch.randn(1, kv_heads, total, dim, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    v = torch.randn(1, kv_heads, total, dim, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    lengths = torch.tensor(LENGTHS, dtype=torch.int32, device="cuda")
    cu = F.pad(lengths.cumsum(0, dtype=torch.int32), (1, 0))
    before = varlen_calls.calls
    packed = dispatch._torch_varlen_packed(q, k, v, (lengths, cu, max(LENGTHS)), n_groups=heads // kv_heads,
                                           is_causal=True, sliding_window=None, scale=None)
    assert varlen_calls.calls == before + 1
    upstream = torch.randn_like(packed)
    packed_grads = torch.autograd.grad(packed, (q, k, v), upstream)

    rows, start = [], 0
    for length in LENGTHS:
        part = slice(start, start + length)
        out = F.scaled_dot_product_attention(q[:, :, part], k[:, :, part].repeat_interleave(4, 1),
                                             v[:, :, part].repeat_interleave(4, 1), is_causal=True)
        rows.append(out.transpose(1, 2))
        start += length
    reference = torch.cat(rows, dim=1)
    reference_grads = torch.autograd.grad(reference, (q, k, v), upstream)
    assert packed.shape == reference.shape == (1, total, heads, dim)
    assert relative_error(packed, reference) < 1e-2
    for got, want in zip(packed_grads, reference_grads, strict=True):
        assert relative_error(got, want) < 1e-2


def test_packed_loss_and_gradients_equal_the_rows_run_alone(small_llama_dir, varlen_calls):
    from unsloth import FastLanguageModel

    model, _ = FastLanguageModel.from_pretrained(str(small_llama_dir), use_exact_model_name=True, max_seq_length=4096,
                                                 load_in_4bit=False, dtype=torch.bfloat16)
    model = FastLanguageModel.get_peft_model(model, r=8, lora_alpha=8, lora_dropout=0.0, bias="none",
                                             target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
                                             use_gradient_checkpointing=False, random_state=0)
    with torch.no_grad():  # LoRA's B starts at zero: give the adapters something to differentiate through
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(std=0.02)
    model.train()
    adapters = [p for n, p in model.named_parameters() if p.requires_grad]
    rows = [torch.randint(1000, 120000, (n,), device="cuda") for n in LENGTHS]

    ids = torch.cat(rows)[None]
    positions = torch.cat([torch.arange(n, device="cuda") for n in LENGTHS])[None]
    labels = ids.clone()
    labels[positions == 0] = -100  # no row predicts the next row's first token
    before = varlen_calls.calls
    packed_loss = model(input_ids=ids, position_ids=positions, labels=labels,
                        packed_seq_lengths=torch.tensor(LENGTHS, dtype=torch.int32)).loss
    assert varlen_calls.calls - before == model.config.num_hidden_layers, "not one varlen call per layer"
    packed_grads = torch.autograd.grad(packed_loss, adapters)

    targets = sum(n - 1 for n in LENGTHS)
    row_loss = sum(model(input_ids=row[None], labels=row[None]).loss * (len(row) - 1) for row in rows) / targets
    row_grads = torch.autograd.grad(row_loss, adapters)
    assert abs(packed_loss.item() - row_loss.item()) < 2e-3 * row_loss.item()
    errors = [relative_error(got, want) for got, want in zip(packed_grads, row_grads, strict=True)]
    assert max(errors) < 2e-2, errors
