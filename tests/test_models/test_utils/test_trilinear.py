import pytest
import torch
import torch.nn.functional as F

from segmenter3d.models.utils import (
    interpolation_matrix,
    trilinear_upsample,
    trilinear_upsample_add_projection,
)


@pytest.mark.parametrize('shape,size', [
    ((1, 3, 4, 4, 4), (32, 32, 32)),  # the head's x8
    ((2, 5, 3, 4, 7), (11, 4, 20)),  # odd factors, one axis unchanged
    ((1, 2, 5, 6, 7), (2, 3, 3)),  # shrinking
    ((1, 1, 1, 2, 1), (3, 5, 2)),  # one-voxel axes
])
def test_equals_f_interpolate_values_and_gradients(shape, size):
    torch.manual_seed(0)
    x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    got = trilinear_upsample(x, size)
    want = F.interpolate(x, size=size, mode='trilinear', align_corners=False)
    torch.testing.assert_close(got, want)
    w = torch.randn_like(want)
    torch.testing.assert_close(torch.autograd.grad((got * w).sum(), x)[0],
                               torch.autograd.grad((want * w).sum(), x)[0])


def test_rows_of_the_interpolation_matrix_sum_to_one_with_two_neighbours():
    m = interpolation_matrix(4, 32, torch.zeros(()))
    torch.testing.assert_close(m.sum(1), torch.ones(32))
    assert ((m > 0).sum(1) <= 2).all()
    # x8, align_corners=False: output 0..3 and 28..31 sit beyond the first/last centre
    assert m[0, 0] == 1 and m[31, 3] == 1 and m[4, 0] == pytest.approx(0.9375)


def test_add_projection_equals_upsample_plus_einsum_and_its_gradients():
    torch.manual_seed(1)
    x = torch.randn(2, 5, 3, 2, 4, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    volume = torch.randn(2, 4, 9, 8, 12, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, b: trilinear_upsample_add_projection(a, b, volume.detach()), (x, weight))
    got = trilinear_upsample_add_projection(x, weight, volume)
    want = (F.interpolate(x, size=(9, 8, 12), mode='trilinear', align_corners=False) +
            torch.einsum('kc,bcdhw->bkdhw', weight, volume))
    torch.testing.assert_close(got, want)
    w = torch.randn_like(want)
    for g, h in zip(torch.autograd.grad((got * w).sum(), (x, weight, volume)),
                    torch.autograd.grad((want * w).sum(), (x, weight, volume))):
        torch.testing.assert_close(g, h)
    with pytest.raises(ValueError, match='does not map 4 volume channels to 5'):
        trilinear_upsample_add_projection(x, weight[:, :3], volume)
