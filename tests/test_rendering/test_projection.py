import pytest
import torch
from test_raycaster import box_room_tsdf

from segmenter3d.rendering import HitProjector, RayHits, TSDFRaycaster


def _hits(shape=(24, 20, 18)):
    caster = TSDFRaycaster(16, 32)
    hits = caster.cast(box_room_tsdf(shape, (3., 3., 3.), (20., 16., 14.)), (11.5, 9.5, 8.5))
    hits.valid[0, :5] = False  # some pixels without a hit
    return caster, hits


def test_equals_grid_sample_projection_values_and_gradients():
    caster, hits = _hits()
    values = torch.randn(5, 24, 20, 18, requires_grad=True)
    projector = HitProjector(hits, values.shape[1:], fill=-1.)
    got, want = projector(values), caster.project(values, hits, fill=-1.)
    assert got.shape == (5, 16, 32) and (got[:, 0, :5] == -1).all()
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    weights = torch.randn_like(got)
    g_got, = torch.autograd.grad((got * weights).sum(), values)
    g_want, = torch.autograd.grad((want * weights).sum(), values)
    torch.testing.assert_close(g_got, g_want, atol=1e-5, rtol=1e-5)


def test_points_on_and_beyond_the_border_clamp_like_grid_sample():
    shape = (4, 3, 1)  # a one-voxel axis too
    points = torch.tensor([[[0., 0., 0.], [3., 2., 0.], [5., -1., 0.3], [1.5, 0.25, 0.]]])
    hits = RayHits(points, torch.ones(1, 4), torch.ones(1, 4, dtype=torch.bool))
    values = torch.arange(12.).view(1, *shape)
    got = HitProjector(hits, shape)(values)
    torch.testing.assert_close(got, TSDFRaycaster.project(values, hits))
    # by hand: value = 3 * x + y on this grid
    torch.testing.assert_close(got[0, 0], torch.tensor([0., 11., 9., 4.75]))


def test_float64_gradcheck():
    _, hits = _hits((10, 9, 8))
    values = torch.randn(2, 10, 9, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(HitProjector(hits, (10, 9, 8)), (values, ))


def test_splat_is_the_adjoint_of_sample_and_ones_give_the_voxel_weights():
    """<sample(v), r> = <v, splat(r)> for any v, r; splat(1) is each used voxel's total
    trilinear weight, computed here corner by corner."""
    _, hits = _hits()
    shape = (24, 20, 18)
    projector = HitProjector(hits, shape)
    values = torch.randn(3, *shape, dtype=torch.float64)
    rows = torch.randn(len(projector.pixels), 3, dtype=torch.float64)
    splat = projector.splat(rows)
    assert splat.shape == (len(projector.voxels), 3)
    dense = torch.zeros(3, 24 * 20 * 18, dtype=torch.float64)
    dense[:, projector.voxels] = splat.t()
    torch.testing.assert_close((projector.sample(values) * rows).sum(),
                               (values.flatten(1) * dense).sum())
    want = torch.zeros(24 * 20 * 18, dtype=torch.float64)
    points = hits.points[hits.valid].double()
    lo = points.floor()
    for corner in torch.cartesian_prod(*[torch.tensor([0., 1.])] * 3):
        w = torch.where(corner.bool(), points - lo, 1 - (points - lo)).prod(1)
        ids = (lo + corner).long()
        want.index_add_(0, (ids[:, 0] * 20 + ids[:, 1]) * 18 + ids[:, 2], w)
    got = torch.zeros_like(want)
    got[projector.voxels] = projector.splat(torch.ones(len(rows), 1, dtype=torch.float64))[:, 0]
    torch.testing.assert_close(got, want)
    with pytest.raises(ValueError, match='one per hit pixel'):
        projector.splat(rows[1:])


def test_bad_shapes_are_named():
    _, hits = _hits()
    projector = HitProjector(hits, (24, 20, 18))
    with pytest.raises(ValueError, match=r'shape \(C, 24, 20, 18\)'):
        projector(torch.zeros(3, 24, 20, 17))
    with pytest.raises(ValueError, match='volume_shape'):
        HitProjector(hits, (24, 20))


def test_surface_coverage_counts_surface_voxels_with_a_nonzero_trilinear_weight():
    from segmenter3d.rendering import surface_coverage
    shape = (24, 20, 18)
    tsdf = box_room_tsdf(shape, (3., 3., 3.), (20., 16., 14.))
    caster = TSDFRaycaster(16, 32)
    hits = caster.cast(tsdf, (11.5, 9.5, 8.5))
    projector = HitProjector(hits, shape)
    # independent: the corners of every hit point whose trilinear weight is not zero
    reached = torch.zeros(shape, dtype=torch.bool)
    for p in hits.points[hits.valid]:
        p = torch.minimum(p.clamp(min=0), torch.tensor(shape, dtype=p.dtype) - 1)
        lo = torch.minimum(p.floor(), torch.tensor(shape, dtype=p.dtype) - 2)
        f = p - lo
        for c in torch.cartesian_prod(*[torch.tensor([0, 1])] * 3):
            w = torch.prod(torch.where(c.bool(), f, 1 - f))
            if w > 0:
                reached[tuple((lo + c).long())] = True
    surface = tsdf.abs() < 1
    want = float((reached & surface).sum() / surface.sum())
    assert abs(surface_coverage([projector], tsdf) - want) < 1e-6 and 0 < want < 1
    with pytest.raises(ValueError, match='no surface voxel'):
        surface_coverage([projector], torch.full(shape, 3.0))
