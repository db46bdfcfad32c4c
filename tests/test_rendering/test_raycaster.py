import math

import numpy as np
import pytest
import torch

from segmenter3d.rendering import (
    TSDFRaycaster,
    cube_face_directions,
    cube_to_equirect,
    directions_to_cube,
    directions_to_equirect,
    equirect_directions,
)


def box_room_tsdf(shape, lo, hi, trunc=3.0):
    """Exact TSDF (voxel units) of the free box [lo, hi] inside solid walls."""
    idx = torch.stack(torch.meshgrid(*[torch.arange(s, dtype=torch.float64) for s in shape],
                                     indexing='ij'), -1)
    lo, hi = torch.tensor(lo, dtype=torch.float64), torch.tensor(hi, dtype=torch.float64)
    inside = torch.minimum(idx - lo, hi - idx)  # per-axis distance to the walls
    sdf = inside.min(-1).values
    return sdf.clamp(-trunc, trunc).float()


def analytic_box_depth(cam, dirs, lo, hi):
    cam, lo, hi = (torch.tensor(v, dtype=torch.float64) for v in (cam, lo, hi))
    d = dirs.double()
    with np.errstate(divide='ignore'):
        t_hi = torch.where(d > 0, (hi - cam) / d, torch.full_like(d, math.inf))
        t_lo = torch.where(d < 0, (lo - cam) / d, torch.full_like(d, math.inf))
    return torch.minimum(t_hi, t_lo).min(-1).values


@pytest.mark.parametrize('mode', ['equirect', 'cubemap'])
def test_box_room_depth_is_analytic(mode):
    shape, lo, hi = (60, 50, 40), (4.0, 5.0, 3.0), (55.0, 44.0, 35.0)
    cam = (25.3, 21.7, 17.2)
    caster = TSDFRaycaster(64, 128, mode=mode, face_size=48)
    hits = caster.cast(box_room_tsdf(shape, lo, hi), cam)
    expected = analytic_box_depth(cam, equirect_directions(64, 128), lo, hi)
    assert hits.valid.all()
    err = (hits.depth.double() - expected).abs()
    if mode == 'equirect':
        assert err.max() < 0.25
    else:  # face interpolation across box edges is not exact; away from them it is
        assert err.median() < 0.05 and (err < 0.25).float().mean() > 0.97


def test_sphere_appears_at_the_right_pixel():
    shape = (64, 64, 64)
    idx = torch.stack(torch.meshgrid(*[torch.arange(s, dtype=torch.float32) for s in shape],
                                     indexing='ij'), -1)
    centre = torch.tensor([48.0, 32.0, 40.0])
    cam = torch.tensor([20.0, 32.0, 32.0])
    tsdf = ((idx - centre).norm(dim=-1) - 6.0).clamp(-3, 3)
    caster = TSDFRaycaster(90, 180)
    hits = caster.cast(tsdf, cam)
    # The sphere's centre direction: +X and up 8 voxels over a 28-voxel run.
    row, col = directions_to_equirect(centre - cam, 90, 180).floor().long().tolist()
    assert hits.valid[row, col]
    assert abs(hits.depth[row, col].item() - ((centre - cam).norm().item() - 6.0)) < 0.25
    # Looking the opposite way there is nothing to hit inside the volume.
    assert not hits.valid[45, 0]
    assert hits.valid.float().mean() < 0.1


def test_camera_inside_an_object_sees_nothing():
    tsdf = box_room_tsdf((20, 20, 20), (2.0, 2.0, 2.0), (17.0, 17.0, 17.0))
    hits = TSDFRaycaster(8, 16).cast(tsdf, (0.5, 0.5, 0.5))  # inside the wall
    assert not hits.valid.any()


def test_cube_map_round_trip_of_a_smooth_field():
    dirs = torch.nn.functional.normalize(cube_face_directions(64), dim=-1)
    field = dirs[..., 2:3].permute(0, 3, 1, 2)  # z component of each face pixel's direction
    pano = cube_to_equirect(field, 64, 128)[0]
    expected = equirect_directions(64, 128)[..., 2]
    assert (pano - expected).abs().max() < 0.03
    face, uv = directions_to_cube(torch.tensor([[1.0, 0.1, -0.2], [0.0, 0.0, -1.0]]))
    assert face.tolist() == [0, 5] and uv.abs().max() <= 1


def test_projection_gradient_reaches_only_hit_voxels():
    shape, lo, hi = (24, 24, 24), (3.0, 3.0, 3.0), (20.0, 20.0, 20.0)
    caster = TSDFRaycaster(16, 32)
    hits = caster.cast(box_room_tsdf(shape, lo, hi), (11.5, 11.5, 11.5))
    logits = torch.randn(5, *shape, requires_grad=True)
    projected = caster.project(logits, hits)
    assert projected.shape == (5, 16, 32)
    projected.sum().backward()
    touched = logits.grad.abs().sum(0) > 0
    # Every voxel with gradient is a trilinear neighbour of some hit point.
    neighbours = torch.zeros(shape, dtype=torch.bool)
    p = hits.points[hits.valid]
    for corner in torch.cartesian_prod(*[torch.tensor([0, 1])] * 3):
        ids = (p.floor().long() + corner).clamp(max=torch.tensor(shape) - 1)
        neighbours[ids[:, 0], ids[:, 1], ids[:, 2]] = True
    assert touched.any() and not (touched & ~neighbours).any()
    # ... and free space far from every surface gets none.
    assert not touched[8:15, 8:15, 8:15].any()


def test_project_labels_nearest_and_fill():
    tsdf = box_room_tsdf((16, 16, 16), (3.0, 3.0, 3.0), (12.0, 12.0, 12.0))
    labels = torch.zeros(1, 16, 16, 16)
    labels[:, :, :, :4] = 7  # the floor (low Z) region
    caster = TSDFRaycaster(16, 32)
    hits = caster.cast(tsdf, (7.5, 7.5, 7.5))
    lab = caster.project(labels, hits, mode='nearest', fill=255)[0]
    assert (lab[-3:] == 7).all() and (lab[:3] == 0).all()
    # every pixel: the label of the voxel nearest its hit, here 7 below z = 3.5 (voxels 0-3)
    want = torch.where(hits.points[..., 2] < 3.5, 7, 0)
    away = (hits.points[..., 2] - 3.5).abs() > 1e-3  # off the rounding border
    assert hits.valid.all() and away.float().mean() > 0.8
    assert torch.equal(lab[away].long(), want[away])
    # pixels whose ray hit nothing get the fill value
    hits.valid[:, :4] = False
    lab = caster.project(labels, hits, mode='nearest', fill=255)[0]
    assert (lab[:, :4] == 255).all() and torch.equal(lab[:, 4:][away[:, 4:]].long(),
                                                     want[:, 4:][away[:, 4:]])


def test_bad_arguments():
    with pytest.raises(ValueError, match='mode'):
        TSDFRaycaster(mode='fisheye')
    with pytest.raises(ValueError, match=r'\(X, Y, Z\)'):
        TSDFRaycaster(4, 8).cast(torch.zeros(1, 4, 4, 4), (1, 1, 1))


def test_pinhole_depth_colour_and_labels_of_a_box_room_are_analytic():
    """A pinhole camera in a box room: z-depth per pixel from the exact ray-box distance, and
    colour and labels of the wall each pixel sees."""
    from segmenter3d.rendering import pinhole_directions
    shape, lo, hi = (60, 50, 40), (4.0, 5.0, 3.0), (55.0, 44.0, 35.0)
    tsdf = box_room_tsdf(shape, lo, hi)
    vs, origin = 0.05, torch.tensor([1.0, -2.0, 0.5])
    K = torch.tensor([[40.0, 0, 31.5], [0, 40.0, 23.5], [0, 0, 1]], dtype=torch.float64)
    yaw, pitch = 0.6, -0.3
    fwd = torch.tensor([math.cos(pitch) * math.cos(yaw), math.cos(pitch) * math.sin(yaw),
                        math.sin(pitch)], dtype=torch.float64)
    right = torch.nn.functional.normalize(torch.linalg.cross(
        fwd, torch.tensor([0, 0, 1.0], dtype=torch.float64)), dim=0)
    pose = torch.eye(4, dtype=torch.float64)
    pose[:3, 0], pose[:3, 1], pose[:3, 2] = right, torch.linalg.cross(fwd, right), fwd
    cam_vox = torch.tensor([20.3, 21.7, 17.2], dtype=torch.float64)
    pose[:3, 3] = origin + vs * cam_vox
    # every wall its own colour and label: the label of the nearest wall
    idx = torch.stack(torch.meshgrid(*[torch.arange(s, dtype=torch.float64) for s in shape],
                                     indexing='ij'), -1)
    dists = torch.cat([idx - torch.tensor(lo, dtype=torch.float64),
                       torch.tensor(hi, dtype=torch.float64) - idx], -1)  # 6 walls
    wall = dists.argmin(-1)
    labels = wall.to(torch.uint8)
    rgb = (torch.stack([wall * 40, 250 - wall * 40, wall * 10 + 5])).to(torch.uint8)
    caster = TSDFRaycaster()
    out = caster.render_pinhole(tsdf, K, pose, (48, 64), vs, origin, rgb=rgb, labels=labels)
    dirs = pinhole_directions(K, 48, 64, dtype=torch.float64) @ pose[:3, :3].T
    t = analytic_box_depth(cam_vox.tolist(), dirs.reshape(-1, 3), lo, hi).view(48, 64)
    assert out['valid'].all()
    z = t * vs  # dirs have z = 1 in the camera: t in voxels along them is z-depth in voxels
    err = (out['depth'].double() - z).abs() / vs
    assert err.max() < 0.25 and err.median() < 0.05
    # which wall each pixel's ray leaves through
    with np.errstate(divide='ignore'):
        d = dirs.reshape(-1, 3)
        cam = cam_vox
        t_hi = torch.where(d > 0, (torch.tensor(hi, dtype=torch.float64) - cam) / d,
                           torch.full_like(d, math.inf))
        t_lo = torch.where(d < 0, (torch.tensor(lo, dtype=torch.float64) - cam) / d,
                           torch.full_like(d, math.inf))
    which = torch.cat([t_lo, t_hi], -1).argmin(-1).view(48, 64)
    assert (out['labels'].long() == which).float().mean() > 0.97
    expected_rgb = torch.stack([which * 40, 250 - which * 40, which * 10 + 5], -1)
    close = ((out['rgb'].long() - expected_rgb).abs().max(-1).values <= 2).float().mean()
    assert close > 0.9
