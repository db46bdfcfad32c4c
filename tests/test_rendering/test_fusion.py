import numpy as np
import pytest
import torch

from segmenter3d.rendering import TSDFFusion, TSDFRaycaster, depth_bounds, grid_from_bounds


def wall_frames(distance=2.0, size=(48, 64), num=3):
    """Frames of a camera at the origin looking along +X at the plane x = distance."""
    h, w = size
    K = torch.tensor([[50.0, 0, (w - 1) / 2], [0, 50.0, (h - 1) / 2], [0, 0, 1]])
    pose = torch.eye(4)
    pose[:3, :3] = torch.tensor([[0., 0, 1], [-1, 0, 0], [0, -1, 0]])  # x right = -Y, ...
    depth = torch.full((num, h, w), distance)  # the plane is perpendicular to the axis
    rgb = torch.zeros(num, h, w, 3, dtype=torch.uint8)
    rgb[..., 0] = 200
    labels = torch.full((num, h, w), 7, dtype=torch.uint8)
    labels[:, :, : w // 2] = 255  # half the image unknown
    return depth, K, pose.expand(num, 4, 4), rgb, labels


def test_a_plane_seen_head_on_gives_the_exact_truncated_distance():
    depth, K, poses, rgb, labels = wall_frames()
    vs = 0.1
    fusion = TSDFFusion((30, 20, 20), vs, (0.55, -1.0, -1.0), num_classes=10, block=4)
    fusion.integrate(depth, K, poses, rgb=rgb, labels=labels)
    room = fusion.result()
    x = 0.55 + vs * torch.arange(30)
    expected = ((2.0 - x) / vs).clamp(-3, 3)  # voxel units, positive in front of the wall
    seen = room['weight'] > 0
    assert seen[:, 10, 10].sum() >= 14  # from the camera's near side to 3 voxels behind
    col = room['tsdf'][:, 10, 10]
    ok = seen[:, 10, 10]
    torch.testing.assert_close(col[ok], expected[ok], atol=1e-4, rtol=0)
    # behind the truncation nothing was observed: +3, weight 0
    assert (room['tsdf'][x > 2.0 + 3.01 * vs] == 3).all()
    assert (room['weight'][x > 2.0 + 3.01 * vs] == 0).all()
    assert room['weight'].max() == 3  # one observation per frame
    band = seen & (room['tsdf'].abs() < 3)
    assert (room['rgb'][0][band] == 200).all() and (room['rgb'][1][band] == 0).all()
    # labels: the right half of the image (world -Y... the camera's +x is world -Y) voted 7
    lab = room['labels'][band]
    assert set(lab.unique().tolist()) <= {7, 255} and (lab == 7).any() and (lab == 255).any()
    assert (room['labels'][~band] == 255).all()


def test_batching_and_chunking_do_not_change_the_result():
    depth, K, poses, rgb, labels = wall_frames(num=4)
    poses = poses.clone()
    poses[1, :3, 3] = torch.tensor([0.1, 0.2, -0.1])
    poses[2, :3, 3] = torch.tensor([-0.2, 0.0, 0.15])
    args = ((30, 20, 20), 0.1, (0.55, -1.0, -1.0))
    one = TSDFFusion(*args, num_classes=10, block=8, chunk=2**20)
    one.integrate(depth, K, poses, rgb=rgb, labels=labels)
    many = TSDFFusion(*args, num_classes=10, block=4, chunk=64)
    for i in range(4):
        many.integrate(depth[i], K, poses[i], rgb=rgb[i], labels=labels[i])
    a, b = one.result(), many.result()
    for key in ('tsdf', 'weight', 'rgb', 'labels'):
        torch.testing.assert_close(a[key], b[key], atol=1e-5, rtol=0)


def test_frustum_culling_keeps_every_voxel_a_brute_force_projection_updates():
    """The block culling is only a speed-up: every voxel a per-voxel projection of the frame
    would update is updated."""
    torch.manual_seed(0)
    h, w = 30, 40
    K = torch.tensor([[35.0, 0, 19.5], [0, 35.0, 14.5], [0, 0, 1]])
    pose = torch.eye(4)
    angle = 0.7
    pose[:3, :3] = torch.tensor([[np.cos(angle), 0, np.sin(angle)], [0, 1, 0],
                                 [-np.sin(angle), 0, np.cos(angle)]], dtype=torch.float32)
    pose[:3, 3] = torch.tensor([0.3, 0.4, 0.2])
    depth = 1.0 + torch.rand(h, w)
    fusion = TSDFFusion((40, 30, 40), 0.05, (-0.5, -0.5, -0.5), block=8)
    fusion.integrate(depth, K, pose)
    idx = torch.stack(torch.meshgrid(*[torch.arange(s) for s in (40, 30, 40)],
                                     indexing='ij'), -1).reshape(-1, 3)
    world = -0.5 + 0.05 * idx.float()
    cam = (world - pose[:3, 3]) @ pose[:3, :3]
    z = cam[:, 2].clamp(min=1e-6)
    u = torch.round(35 * cam[:, 0] / z + 19.5)
    v = torch.round(35 * cam[:, 1] / z + 14.5)
    ok = (cam[:, 2] > 0) & (u >= 0) & (u < w) & (v >= 0) & (v < h)
    d = depth[v.clamp(0, h - 1).long(), u.clamp(0, w - 1).long()]
    ok &= (d - cam[:, 2]) / 0.05 >= -3
    assert ok.sum() > 1000
    updated = fusion.result()["weight"].reshape(-1) > 0
    # equal but for float rounding at pixel borders (two ways to compute the projection)
    assert (updated != ok).sum() <= 5


def test_bounds_from_depth_and_grid_origin_is_the_centre_of_voxel_zero():
    depth, K, poses, _, _ = wall_frames(distance=2.0, num=1)
    lo, hi = depth_bounds(depth, K, poses, stride=1)
    # the wall at x = 2 seen with fx = 50 over 64 x 48 pixels
    assert abs(lo[0] - 2.0) < 1e-5 and abs(hi[0] - 2.0) < 1e-5
    assert abs(hi[1] - 2.0 * 31.5 / 50) < 1e-4 and abs(lo[1] + 2.0 * 31.5 / 50) < 1e-4
    shape, origin = grid_from_bounds(lo, hi, 0.1, 0.4)
    torch.testing.assert_close(origin, lo - 0.4)
    assert (origin + 0.1 * (torch.tensor(shape) - 1) >= hi + 0.4 - 1e-5).all()
    assert depth_bounds(torch.zeros(1, 4, 4), K, poses) is None


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match='shape'):
        TSDFFusion((4, 4), 0.1, (0, 0, 0))
    with pytest.raises(ValueError, match='voxel_size'):
        TSDFFusion((4, 4, 4), 0.0, (0, 0, 0))
    fusion = TSDFFusion((4, 4, 4), 0.1, (0, 0, 0))
    pose = torch.eye(4)
    pose[0, 3] = float('-inf')
    with pytest.raises(ValueError, match='finite'):
        fusion.integrate(torch.ones(4, 4), torch.eye(3), pose)


def test_fused_sphere_is_recast_at_its_true_depth():
    """Fusion and the pinhole raycaster agree: frames of a sphere rendered from its exact
    TSDF, fused, and cast again from a new camera give the analytic depth."""
    shape, vs = (48, 48, 48), 0.05
    origin = torch.zeros(3)
    idx = torch.stack(torch.meshgrid(*[torch.arange(s, dtype=torch.float32) for s in shape],
                                     indexing='ij'), -1)
    centre = torch.tensor([24.0, 24.0, 24.0])
    exact = ((idx - centre).norm(dim=-1) - 8.0).clamp(-3, 3)  # radius 8 voxels = 0.4 m
    caster = TSDFRaycaster()
    K = torch.tensor([[60.0, 0, 31.5], [0, 60.0, 23.5], [0, 0, 1]])
    size = (48, 64)
    fusion = TSDFFusion(shape, vs, origin)
    centre_m = centre * vs
    for angle in np.linspace(0, 2 * np.pi, 8, endpoint=False):
        eye = centre_m + torch.tensor([np.cos(angle), np.sin(angle), 0.3]).float() * 0.9
        pose = _look_at(eye, centre_m)
        frame = caster.render_pinhole(exact, K, pose, size, vs, origin)
        fusion.integrate(frame['depth'], K, pose)
    fused = fusion.result()['tsdf']
    eye = centre_m + torch.tensor([0.6, -0.6, -0.2])
    frame = caster.render_pinhole(fused, K, _look_at(eye, centre_m), size, vs, origin)
    # analytic: distance along each ray to the sphere of radius 0.4 m
    hits = frame['hits']
    assert frame['valid'].float().mean() > 0.2
    points = origin + vs * hits.points[frame['valid']]
    err = ((points - centre_m).norm(dim=-1) - 0.4).abs() / vs
    print(f"recast sphere: median {err.median():.3f}, p90 {err.quantile(0.9):.3f} voxel")
    assert err.median() < 0.2 and err.quantile(0.9) < 0.5


def _look_at(eye, target):
    forward = torch.nn.functional.normalize(target - eye, dim=0)
    right = torch.nn.functional.normalize(torch.linalg.cross(forward, torch.tensor([0., 0, 1])),
                                          dim=0)
    pose = torch.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2] = right, torch.linalg.cross(forward, right), forward
    pose[:3, 3] = eye
    return pose


def _reference_fusion(depth, K, poses, rgb, labels, shape, vs, origin, trunc, classes):
    """Plain per-voxel fusion in float64 (numpy): every voxel centre projected into every
    frame, nearest pixel, the running sums of the module docstring. Also returns the voxels
    whose outcome float rounding could flip (projection within 1e-3 pixel of a pixel
    border, distance within 1e-4 voxel of a threshold)."""
    idx = np.stack(np.meshgrid(*[np.arange(s) for s in shape], indexing='ij'), -1)
    world = origin + vs * idx.reshape(-1, 3)
    n = len(world)
    tsdf_sum, weight, rgb_sum, rgb_weight = np.zeros(n), np.zeros(n), np.zeros((n, 3)), \
        np.zeros(n)
    votes = np.zeros((n, classes), np.int64)
    unsure = np.zeros(n, bool)
    h, w = depth.shape[1:]
    for f in range(len(depth)):
        rot, t = poses[f, :3, :3], poses[f, :3, 3]
        cam = (world - t) @ rot  # world -> camera: R^T (X - t)
        z = cam[:, 2]
        with np.errstate(divide='ignore', invalid='ignore'):
            uf = K[0, 0] * cam[:, 0] / z + K[0, 2]
            vf = K[1, 1] * cam[:, 1] / z + K[1, 2]
        u, v = np.round(uf), np.round(vf)
        seen = (z > 0) & (u >= 0) & (u < w) & (v >= 0) & (v < h)
        unsure |= (z > 0) & ((np.abs(uf - np.floor(uf) - 0.5) < 1e-3) |
                             (np.abs(vf - np.floor(vf) - 0.5) < 1e-3))
        for i in np.nonzero(seen)[0]:
            d = depth[f, int(v[i]), int(u[i])]
            if d <= 0:
                continue
            sdf = (d - z[i]) / vs
            unsure[i] |= min(abs(sdf + trunc), abs(sdf - trunc)) < 1e-4
            if sdf < -trunc:
                continue
            tsdf_sum[i] += min(sdf, trunc)
            weight[i] += 1
            if sdf < trunc:
                rgb_sum[i] += rgb[f, int(v[i]), int(u[i])]
                rgb_weight[i] += 1
                lab = labels[f, int(v[i]), int(u[i])]
                if lab < classes:
                    votes[i, lab] += 1
    tsdf = np.where(weight > 0, tsdf_sum / np.maximum(weight, 1), trunc)
    colour = np.round(rgb_sum / np.maximum(rgb_weight, 1)[:, None])
    best, label = torch.from_numpy(votes).max(-1)  # torch's tie-break, as the module
    label = torch.where(best > 0, label, 255).numpy()
    return dict(tsdf=tsdf.reshape(shape), weight=weight.reshape(shape),
                rgb=colour.T.reshape(3, *shape), labels=label.reshape(shape)), \
        unsure.reshape(shape)


@pytest.mark.parametrize('block,chunk', [(4, 2**17), (3, 100)])
def test_fusion_equals_a_plain_per_voxel_reference(block, chunk):
    """A random scene: cameras inside and around the volume, a wavy surface with holes,
    random colours and labels (some unknown or out of range). The culled, classified and
    chunked fusion equals the plain per-voxel formula; labels exactly."""
    rng = np.random.default_rng(3)
    shape, vs, trunc, classes = (34, 28, 22), 0.06, 3.0, 5
    origin = np.array([-1.0, -0.8, -0.6])
    h, w = 48, 64
    K = np.array([[50.0, 0, 31.5], [0, 50.0, 23.5], [0, 0, 1]])
    frames = 6
    poses = np.zeros((frames, 4, 4))
    v, u = np.mgrid[0:h, 0:w]
    depth = np.zeros((frames, h, w))
    for f in range(frames):
        eye = rng.uniform(-1.2, 1.2, 3)  # some inside the volume
        fwd = rng.normal(size=3)
        fwd /= np.linalg.norm(fwd)
        right = np.cross(fwd, rng.normal(size=3))
        right /= np.linalg.norm(right)
        poses[f, :3, :3] = np.stack([right, np.cross(fwd, right), fwd], 1)
        poses[f, :3, 3], poses[f, 3, 3] = eye, 1
        depth[f] = 0.3 * np.sin(u / 7.0 + f) * np.cos(v / 6.0) + rng.uniform(1.0, 3.0)
    depth[:2, 30:, :9] = 0  # holes: a patch and scattered pixels, in two frames
    depth[:2][rng.random((2, h, w)) < 0.05] = 0
    depth = depth.astype(np.float32)
    rgb = rng.integers(0, 256, (frames, h, w, 3), dtype=np.uint8)
    labels = rng.integers(0, classes + 2, (frames, h, w)).astype(np.uint8)  # >= 5: ignored
    labels[rng.random(labels.shape) < 0.1] = 255
    poses = poses.astype(np.float32)
    ref, unsure = _reference_fusion(depth.astype(np.float64), K, poses.astype(np.float64),
                                    rgb, labels, shape, vs, origin, trunc, classes)
    fusion = TSDFFusion(shape, vs, origin, trunc, num_classes=classes, block=block,
                        chunk=chunk)
    for start in (0, 4):  # two batches
        sl = slice(start, start + 4)
        fusion.integrate(torch.from_numpy(depth[sl]), torch.from_numpy(K).float(),
                         torch.from_numpy(poses[sl]), rgb=torch.from_numpy(rgb[sl]),
                         labels=torch.from_numpy(labels[sl]))
    out = {k: v.numpy() for k, v in fusion.result().items()}
    assert fusion.free.sum() > 0  # whole free blocks took the shortcut ...
    assert fusion.weight.sum() > 0  # ... and voxels the per-voxel path
    sure = ~unsure
    assert unsure.mean() < 0.02 and (ref['weight'][sure] > 0).sum() > 2000
    assert (ref['labels'][sure] != 255).sum() > 300
    np.testing.assert_array_equal(out['weight'][sure], ref['weight'][sure])
    np.testing.assert_allclose(out['tsdf'][sure], ref['tsdf'][sure], atol=1e-4, rtol=0)
    np.testing.assert_array_equal(out['labels'][sure], ref['labels'][sure])
    # colours: means of uint8 rounded; float32 sums may round a .5 the other way
    assert np.abs(out['rgb'][:, sure].astype(int) - ref['rgb'][:, sure]).max() <= 1
