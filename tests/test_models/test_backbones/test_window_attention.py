import pytest
import torch

from segmenter3d.models.backbones import window_attention as wa


def _reference(q, k, v, bias, mask):
    """softmax(q k^T / sqrt(d) + bias + mask) v in float64, windows batch-major."""
    q, k, v, bias = (t.double() for t in (q, k, v, bias))
    logits = q @ k.transpose(-2, -1) * q.shape[-1]**-0.5 + bias
    if mask is not None:
        nW = mask.shape[0]
        logits = (logits.view(-1, nW, *logits.shape[1:]) + mask.double()[:, None]).flatten(0, 1)
    return logits.softmax(-1) @ v


@pytest.mark.parametrize('with_mask', [False, True])
@pytest.mark.parametrize('low_memory,chunk_bytes', [
    (True, 1),  # recomputing backward, one window a chunk
    (True, wa.CHUNK_BYTES),  # recomputing backward, all windows at once
    (False, wa.CHUNK_BYTES),  # torch's differentiable kernel
])
def test_values_and_all_gradients_match_the_explicit_softmax(with_mask, low_memory, chunk_bytes,
                                                             monkeypatch):
    monkeypatch.setattr(wa, 'CHUNK_BYTES', chunk_bytes)
    torch.manual_seed(0)
    B, nW, nH, N, hd = 2, 3, 2, 10, 4
    q, k, v = (torch.randn(B * nW, nH, N, hd, requires_grad=True) for _ in range(3))
    bias = torch.randn(nH, N, N, requires_grad=True)
    mask = None
    if with_mask:  # Swin-style: -100 between tokens of different regions, different per window
        region = torch.randint(0, 2, (nW, N))
        mask = (region[:, :, None] != region[:, None, :]).float() * -100
    out = wa.window_attention(q, k, v, bias, mask, low_memory=low_memory)
    assert (type(out.grad_fn).__name__ == '_ChunkedBiasAttentionBackward') == low_memory
    ref = _reference(q, k, v, bias, mask)
    torch.testing.assert_close(out.double(), ref, atol=1e-5, rtol=1e-5)
    weights = torch.randn_like(ref)
    grads = torch.autograd.grad((out.double() * weights).sum(), (q, k, v, bias))
    want = torch.autograd.grad((ref * weights).sum(), (q, k, v, bias))
    for name, g, w in zip('q k v bias'.split(), grads, want):
        torch.testing.assert_close(g.double(), w.double(), atol=1e-4, rtol=1e-4)


def test_no_grad_uses_the_forward_only_path_and_dropout_the_plain_call():
    torch.manual_seed(1)
    q, k, v = (torch.randn(4, 2, 8, 4) for _ in range(3))
    bias = torch.randn(2, 8, 8)
    with torch.no_grad():
        out = wa.window_attention(q, k, v, bias)
    assert out.grad_fn is None
    torch.testing.assert_close(out.double(), _reference(q, k, v, bias, None), atol=1e-5,
                               rtol=1e-5)
    torch.manual_seed(2)
    dropped = wa.window_attention(q, k, v, bias, dropout_p=0.5)
    assert not torch.allclose(dropped, out)
