import pytest
import torch
import torch.nn.functional as F

from segmenter3d.models.backbones import window_attention as wa
from segmenter3d.models.backbones.window_layout import window_layout
from segmenter3d.testing import partition, slice_mask


def _reference(q, k, v, bias, masks):
    """softmax(q k^T / sqrt(d) + bias + mask) v in float64 with one (N, N) mask per window."""
    q, k, v, bias = (t.double() for t in (q, k, v, bias))
    logits = q @ k.transpose(-2, -1) * q.shape[-1]**-0.5 + bias
    if masks is not None:
        logits = logits + masks.double()[:, None]
    return logits.softmax(-1) @ v


def _grouped_problem(with_mask, dtype=torch.float32):
    """6 windows in two groups: the first unmasked, the second sharing one Swin-style mask."""
    torch.manual_seed(0)
    nW, nH, N, hd = 6, 2, 10, 4
    q, k, v = (torch.randn(nW, nH, N, hd, dtype=dtype, requires_grad=True) for _ in range(3))
    bias = torch.randn(nH, N, N, dtype=dtype, requires_grad=True)
    if not with_mask:
        return q, k, v, bias, [(0, nW, None)], None
    region = torch.tensor([0] * 4 + [1] * 6)
    mask = (region[:, None] != region[None, :]).float() * -100
    masks = torch.zeros(nW, N, N)
    masks[2:] = mask
    return q, k, v, bias, [(0, 2, None), (2, nW, mask)], masks


PATHS = {
    'cpu flash + recomputing backward': wa.window_attention,
    'per-group scaled_dot_product_attention (CUDA path)':
    lambda q, k, v, b, g: wa._attention_by_group(q, k, v, b, g, 0.),
    'explicit softmax': wa.explicit_window_attention,
}


@pytest.mark.parametrize('with_mask', [False, True])
@pytest.mark.parametrize('path', list(PATHS))
@pytest.mark.parametrize('chunk_bytes', [1, wa.CHUNK_BYTES])  # one window a chunk, or all
def test_values_and_all_gradients_match_the_explicit_softmax(with_mask, path, chunk_bytes,
                                                             monkeypatch):
    monkeypatch.setattr(wa, 'CHUNK_BYTES', chunk_bytes)
    q, k, v, bias, groups, masks = _grouped_problem(with_mask)
    out = PATHS[path](q, k, v, bias, groups)
    if path.startswith('cpu'):
        assert type(out.grad_fn).__name__ == '_CPUWindowAttentionBackward'
    ref = _reference(q, k, v, bias, masks)
    torch.testing.assert_close(out.double(), ref, atol=1e-5, rtol=1e-5)
    weights = torch.randn_like(ref)
    grads = torch.autograd.grad((out.double() * weights).sum(), (q, k, v, bias))
    want = torch.autograd.grad((ref * weights).sum(), (q, k, v, bias))
    for name, g, w in zip('q k v bias'.split(), grads, want):
        torch.testing.assert_close(g.double(), w.double(), atol=1e-4, rtol=1e-4,
                                   msg=lambda m, name=name: f'{name}: {m}')


def test_float64_gradcheck_of_the_cpu_function():
    q, k, v, bias, groups, _ = _grouped_problem(True, torch.float64)
    sl = [t.detach()[:, :, :6, :].clone().requires_grad_() for t in (q, k, v)]
    b = bias.detach()[:, :6, :6].clone().requires_grad_()
    groups = [(0, 2, None), (2, 6, groups[1][2][:6, :6].double())]
    assert torch.autograd.gradcheck(lambda *t: wa.window_attention(*t, groups), (*sl, b))


def test_no_grad_and_dropout():
    q, k, v, bias, groups, masks = _grouped_problem(True)
    with torch.no_grad():
        out = wa.window_attention(q, k, v, bias, groups)
    assert out.grad_fn is None
    torch.testing.assert_close(out.double(), _reference(q, k, v, bias, masks), atol=1e-5,
                               rtol=1e-5)
    torch.manual_seed(2)
    dropped = wa.window_attention(q, k, v, bias, groups, dropout_p=0.5)
    assert dropped.grad_fn is not None and not torch.allclose(dropped, out)
    # inverted dropout: kept weights are scaled by 1 / (1 - p), so the mean over masks is the
    # output without dropout (without the scale it would be half of it)
    with torch.no_grad():
        mean = sum(wa.window_attention(q, k, v, bias, groups, dropout_p=0.5)
                   for _ in range(400)) / 400
    err = (mean - out).abs().mean() / out.abs().mean()
    assert err < 0.15, f'mean of dropped outputs off by {err:.3f} of the output'


@pytest.mark.parametrize('size,window,shift', [
    ((16, 16, 16), (8, 8, 8), (4, 4, 4)),
    ((12, 8, 20), (4, 8, 4), (2, 0, 2)),  # an unshifted axis (one window along it)
    ((5, 9, 7), (3, 3, 2), (1, 1, 1)),  # padded on every axis
    ((10, 6, 6), (4, 4, 4), (0, 0, 0)),  # plain windows, padded
])
def test_layout_equals_pad_roll_partition_and_swins_masks(size, window, shift):
    """The gather reproduces Video Swin's pad -> roll -> partition, grouped by mask."""
    layout = window_layout(size, window, shift, torch.device('cpu'))
    B, C = 2, 3
    x = torch.randn(B, *size, C)
    tokens = torch.cat([x.view(B, -1, C), torch.zeros(B, 1, C)], 1)
    windows = tokens.index_select(1, layout.gather).view(B, layout.num_windows, -1, C)
    grid = [-(-s // w) * w for s, w in zip(size, window)]
    padded = F.pad(x, (0, 0, 0, grid[2] - size[2], 0, grid[1] - size[1], 0, grid[0] - size[0]))
    rolled = torch.roll(padded, shifts=tuple(-s for s in shift), dims=(1, 2, 3))
    reference = partition(rolled, window).view(B, layout.num_windows, -1, C)  # raster order
    torch.testing.assert_close(windows, reference[:, layout.order])
    assert layout.padded == (list(grid) != list(size))
    # round trip: every token comes back from its window position
    torch.testing.assert_close(windows.reshape(B, -1, C).index_select(1, layout.scatter),
                               x.view(B, -1, C))
    # the groups tile the windows, and each group's mask is Swin's mask of its windows
    assert sorted(layout.order.tolist()) == list(range(layout.num_windows))
    assert layout.ranges[0][0] == 0 and layout.ranges[-1][1] == layout.num_windows
    assert all(a[1] == b[0] for a, b in zip(layout.ranges, layout.ranges[1:]))
    N = window[0] * window[1] * window[2]
    masks = torch.zeros(layout.num_windows, N, N)
    for start, end, mask in layout.ranges:
        if mask is not None:
            masks[layout.order[start:end]] = mask
    if any(shift):
        torch.testing.assert_close(masks, slice_mask(*grid, window, shift))
    else:
        assert len(layout.ranges) == 1 and layout.ranges[0][2] is None
