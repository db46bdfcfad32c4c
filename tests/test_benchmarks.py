"""The benchmark peers run on any room size (speed numbers live in benchmarks/RESULTS.md)."""
import os.path as osp
import sys

import pytest
import torch

from conftest import ROOT

sys.path.insert(0, osp.join(ROOT, 'benchmarks'))
import peers  # noqa: E402


def test_pad_to_multiple_crops_back_to_the_input_size():
    net = peers.PadToMultiple(torch.nn.Conv3d(4, 30, 3, padding=1), multiple=32)
    x = torch.rand(1, 4, 33, 20, 7)
    out = net(x)
    assert out.shape == (1, 30, 33, 20, 7)
    # the padding only adds zeros after the input: inside, away from the border, it is the
    # same convolution
    torch.testing.assert_close(out[..., :-1, :-1, :-1], net.net(x)[..., :-1, :-1, :-1])


@pytest.mark.skipif(not peers.available(), reason='MONAI not installed')
def test_monai_basic_unet_runs_on_an_odd_room():
    net = peers.build_peer('MONAI BasicUNet')
    with torch.no_grad():
        assert net(torch.rand(1, 4, 40, 36, 20)).shape == (1, 30, 40, 36, 20)
    with pytest.raises(ValueError, match='unknown peer'):
        peers.build_peer('UNETR++')


def test_backbone_benchmark_compares_the_same_network():
    """The plain reference the speed goals are measured against gives our logits."""
    import backbone
    assert backbone.agreement('t') < 1e-4
    forward, module, loss = backbone.build('t', 'ours')
    x, labels = torch.rand(1, 4, 16, 16, 16), torch.randint(0, 30, (1, 16, 16, 16))
    loss(forward(x), labels).backward()
    assert all(p.grad is not None for p in module.parameters())
