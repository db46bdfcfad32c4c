import pytest
import torch
import torch.nn.functional as F
from mmseg.models.losses import CrossEntropyLoss

from segmenter3d.models.losses import ChunkedCrossEntropyLoss
from segmenter3d.models.losses import chunked_cross_entropy_loss as cce


def _problem(seed=0, B=2, K=5, size=(6, 7, 3), ignored=0.2):
    torch.manual_seed(seed)
    logits = (torch.randn(B, K, *size) * 3).requires_grad_()
    labels = torch.randint(0, K, (B, *size))
    labels[torch.rand(labels.shape) < ignored] = 255
    return logits, labels


@pytest.mark.parametrize('chunk_bytes', [1, 5 * 4 * 17, cce.CHUNK_BYTES])  # 1 voxel, 17, all
@pytest.mark.parametrize('avg_non_ignore', [True, False])
def test_value_and_gradient_equal_mmseg_cross_entropy(chunk_bytes, avg_non_ignore, monkeypatch):
    monkeypatch.setattr(cce, 'CHUNK_BYTES', chunk_bytes)
    logits, labels = _problem()
    ours = ChunkedCrossEntropyLoss(avg_non_ignore=avg_non_ignore, loss_weight=0.7)
    theirs = CrossEntropyLoss(avg_non_ignore=avg_non_ignore, loss_weight=0.7)
    a = ours(logits, labels, ignore_index=255)
    b = theirs(logits, labels, ignore_index=255)
    torch.testing.assert_close(a, b)
    ga, = torch.autograd.grad(a, logits)
    gb, = torch.autograd.grad(b, logits)
    torch.testing.assert_close(ga, gb)
    assert (ga.permute(0, 2, 3, 4, 1)[labels == 255] == 0).all()


def test_class_and_voxel_weights_follow_torchs_weighted_mean():
    logits, labels = _problem(seed=1)
    class_weight = [0.5, 1.0, 2.0, 0.1, 3.0]
    voxel_weight = torch.rand(labels.shape)
    loss = ChunkedCrossEntropyLoss(class_weight=class_weight, avg_non_ignore=True)
    got = loss(logits, labels, ignore_index=255)
    want = F.cross_entropy(logits, labels, weight=torch.tensor(class_weight), ignore_index=255)
    torch.testing.assert_close(got, want)
    # a per-voxel weight multiplies each term; the divisor stays the class-weighted count
    got = loss(logits, labels, weight=voxel_weight, ignore_index=255)
    per_voxel = F.cross_entropy(logits, labels, weight=torch.tensor(class_weight),
                                ignore_index=255, reduction='none')
    keep = labels != 255
    denom = torch.tensor(class_weight)[labels.where(keep, 0)][keep].sum()
    torch.testing.assert_close(got, (per_voxel * voxel_weight).sum() / denom)
    total = ChunkedCrossEntropyLoss(reduction='sum')(logits, labels, ignore_index=255)
    torch.testing.assert_close(total, F.cross_entropy(logits, labels, ignore_index=255,
                                                      reduction='sum'))


def test_float64_gradcheck_and_all_ignored_gives_zero():
    logits, labels = _problem(seed=2, B=1, K=3, size=(2, 3, 2))
    logits = logits.detach().double().requires_grad_()
    loss = ChunkedCrossEntropyLoss(avg_non_ignore=True)
    assert torch.autograd.gradcheck(lambda x: loss(x, labels, ignore_index=255), (logits, ))
    out = loss(logits, torch.full_like(labels, 255), ignore_index=255)
    assert out.item() == 0
    out.backward()
    assert (logits.grad == 0).all()


def test_bad_labels_and_arguments_are_named():
    logits, labels = _problem()
    labels[0, 0, 0, 0] = 7
    with pytest.raises(ValueError, match=r'labels \[7\] are outside 0..4'):
        ChunkedCrossEntropyLoss()(logits, labels, ignore_index=255)
    with pytest.raises(ValueError, match='do not match'):
        ChunkedCrossEntropyLoss()(logits, labels[:, :3], ignore_index=255)
    with pytest.raises(ValueError, match='use_sigmoid'):
        ChunkedCrossEntropyLoss(use_sigmoid=True)
    with pytest.raises(ValueError, match='reduction'):
        ChunkedCrossEntropyLoss(reduction='none')
