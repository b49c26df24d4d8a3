"""TRL's chunked log-probability kernel, stood in for on a CPU, equals a full softmax."""

import torch


def test_chunked_log_probs_entropy_and_top1_equal_a_full_softmax():
    from train.chunked_loss import CHUNK_ROWS, TrlChunkedLogProb

    generator = torch.Generator().manual_seed(0)
    rows = CHUNK_ROWS + 37  # two chunks, the last one partial
    hidden = torch.randn(rows, 16, generator=generator)
    weight = torch.randn(300, 16, generator=generator)
    targets = torch.randint(0, 300, (rows,), generator=generator)
    full = torch.log_softmax(hidden @ weight.T / 0.7, dim=-1)
    expected = full.gather(1, targets[:, None]).squeeze(1)
    logp, entropy, _, _, top1 = TrlChunkedLogProb.apply(hidden, weight, None, targets, 0.7, 0,
                                                        outputs=("entropy", "is_top1"))
    assert torch.allclose(logp, expected, atol=1e-5)
    assert torch.allclose(entropy, -(full.exp() * full).sum(-1), atol=1e-5)
    assert torch.equal(top1, full.argmax(-1) == targets)
    bare, *unused = TrlChunkedLogProb.apply(hidden, weight, None, targets, 0.7, 0, outputs=())
    assert torch.allclose(bare, expected, atol=1e-5) and unused == [None, None, None, None]
