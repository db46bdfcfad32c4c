import copy

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmseg.registry import MODELS

from conftest import CONFIGS, PANO, tiny_teacher
from segmenter3d.datasets import room_to_input
from segmenter3d.encoding import TRUNCATION, input_tsdf
from segmenter3d.structures import VolumeData, VolumeDataSample
from segmenter3d.synthrooms import generate_room


def build(num_classes=30, **kw):
    cfg = Config.fromfile(f'{CONFIGS}/3dseg/3dseg-t_synthrooms.py').model
    cfg.backbone.drop_path_rate = 0.
    kw.setdefault('raycaster', dict(type='TSDFRaycaster', height=PANO[0], width=PANO[1]))
    cfg.update(type='PanoDistiller', teacher_config=dict(model=tiny_teacher(num_classes)), **kw)
    cfg.test_cfg = dict(mode='whole')
    return MODELS.build(cfg)


def room_hits(model, tsdf, sample, view=0):
    """The pixel -> surface hits the distiller cast (and cached) for a room's view."""
    return model._room(tsdf, sample, view).hits


def room_projectors(model, tsdf, sample):
    """The projector of every view of a room, as the distiller built them."""
    return [model._room(tsdf, sample, v, camera).projector
            for v, (camera, _) in enumerate(model.views(sample, tsdf.shape))]


def room_batch(seed=0):
    room = generate_room(seed, voxel_size=0.2)
    data = dict(tsdf=room.tsdf, rgb=room.rgb, labels=room.labels,
                observed=room.tsdf < TRUNCATION)
    inputs = torch.from_numpy(room_to_input(data))[None]
    sample = VolumeDataSample(metainfo=dict(room_id=f'room{seed}', camera=room.camera))
    sample.gt_sem_seg = VolumeData(data=torch.from_numpy(room.labels.astype(np.int64))[None])
    sample.panorama = torch.randint(0, 256, (3, ) + PANO, dtype=torch.uint8)
    return inputs, [sample]


def test_teacher_is_frozen_outside_the_module_tree_and_never_changes():
    torch.manual_seed(0)
    model = build()
    model.init_weights()
    model.train()
    assert not model.teacher.training
    assert not any(k.startswith('teacher') for k in model.state_dict())
    assert all(not p.requires_grad for p in model.teacher.parameters())
    teacher_before = copy.deepcopy(model.teacher.state_dict())
    student_before = copy.deepcopy(model.state_dict())
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    inputs, samples = room_batch()
    losses = model(inputs, samples, mode='loss')
    assert set(losses) == {'decode.loss_ce', 'decode.acc_seg', 'loss_dist'}
    assert losses['loss_dist'] > 0
    (losses['decode.loss_ce'] + losses['loss_dist']).backward()
    assert all(p.grad is None for p in model.teacher.parameters())
    opt.step()
    for k, v in model.teacher.state_dict().items():
        assert torch.equal(v, teacher_before[k]), k
    assert any(not torch.equal(v, student_before[k]) for k, v in model.state_dict().items())


def test_distillation_gradient_reaches_exactly_the_voxels_rays_hit():
    torch.manual_seed(0)
    model = build()
    inputs, samples = room_batch(1)
    logits = torch.randn(1, 30, *inputs.shape[2:], requires_grad=True)
    model.encode_decode = lambda x, metas=None: logits
    model.loss(inputs, samples)['loss_dist'].backward()
    touched = logits.grad.abs().sum((0, 1)) > 0
    hits = room_hits(model, input_tsdf(inputs[0, 0]), samples[0])
    corners = torch.zeros_like(touched)
    # the corners of each hit with a non-zero trilinear weight (hits clamped into the volume)
    upper = torch.tensor(touched.shape) - 1
    p = torch.minimum(hits.points[hits.valid].double().clamp(min=0), upper.double())
    low = p.floor()
    frac = p - low
    for c in torch.cartesian_prod(*[torch.tensor([0, 1])] * 3):
        weight = torch.where(c.bool(), frac, 1 - frac).prod(1)
        ids = torch.minimum(low.long() + c, upper)[weight > 0]
        corners[ids[:, 0], ids[:, 1], ids[:, 2]] = True
    assert touched.sum() > 100 and torch.equal(touched, corners)
    free = inputs[0, 0] <= -TRUNCATION  # free space away from surfaces: no ray stops there
    assert not (touched & free).any()


def test_hits_and_teacher_logits_are_computed_once_per_room():
    model = build()
    calls = []
    inference = model.teacher.inference
    model.teacher.inference = lambda *a, **k: calls.append(1) or inference(*a, **k)
    inputs, samples = room_batch(2)
    with torch.no_grad():
        first = model.loss(inputs, samples)['loss_dist']
        second = model.loss(inputs, samples)['loss_dist']
    assert len(calls) == 1 and model._rooms.keys() == [('room2', 0)]
    torch.testing.assert_close(first, second, rtol=2e-3, atol=1e-4)  # cached in float16


def test_rooms_of_two_roots_with_one_name_are_cached_apart():
    """A labelled room and a panorama-only room of another root may share a name: each keeps
    its own rays and teacher rows (keyed by its volume file), in both KD spaces."""
    for kd_space in ('pixel', 'voxel'):
        model = build(kd_space=kd_space)
        batches = []
        for seed, root in ((3, 'labelled'), (4, 'pano2d')):  # rooms of different shapes
            inputs, samples = room_batch(seed)
            samples[0].set_metainfo(dict(room_id='room_00000',
                                         volume_path=f'{root}/volumes/room_00000.npz'))
            batches.append((inputs, samples))
        assert batches[0][0].shape != batches[1][0].shape
        with torch.no_grad():
            first = [model.loss(*batch)['loss_dist'] for batch in batches]
            again = [model.loss(*batch)['loss_dist'] for batch in batches]
        assert model._rooms.keys() == [('labelled/volumes/room_00000.npz', 0),
                                       ('pano2d/volumes/room_00000.npz', 0)]
        for entry, (inputs, _) in zip(map(model._rooms.get, model._rooms.keys()), batches):
            assert entry.projector.volume_shape == tuple(inputs.shape[2:])
        torch.testing.assert_close(first, again, rtol=2e-3, atol=1e-4)


def test_distillation_checkpoint_loads_into_a_plain_student(tmp_path):
    model = build()
    model.init_weights()
    torch.save({'state_dict': model.state_dict()}, tmp_path / 'distilled.pth')
    cfg = Config.fromfile(f'{CONFIGS}/3dseg/3dseg-t_synthrooms.py').model
    cfg.test_cfg = dict(mode='whole')
    plain = MODELS.build(cfg)
    state = torch.load(tmp_path / 'distilled.pth', weights_only=True)['state_dict']
    plain.load_state_dict(state, strict=True)
    inputs, _ = room_batch(3)
    model.eval(), plain.eval()
    with torch.no_grad():
        torch.testing.assert_close(plain(inputs, mode='tensor'), model(inputs, mode='tensor'))


def test_extract_student_gives_a_plain_checkpoint(tmp_path):
    import os.path as osp
    import sys
    sys.path.insert(0, osp.join(osp.dirname(CONFIGS), 'tools', 'model_converters'))
    import extract_student
    model = build()
    state = model.state_dict()
    meta = {'iter': 5, 'dataset_meta': {'classes': ['a', 'b']}, 'config': 'model = dict()'}
    torch.save({'state_dict': {**state, 'teacher.x': torch.ones(2)}, 'meta': meta,
                'optimizer': {'x': 1}}, tmp_path / 'run.pth')
    assert extract_student.main([str(tmp_path / 'run.pth'), str(tmp_path / 's.pth')]) == 0
    out = torch.load(tmp_path / 's.pth', weights_only=True)
    assert set(out) == {'state_dict', 'meta'} and set(out['state_dict']) == set(state)
    assert all(torch.equal(out['state_dict'][k], v) for k, v in state.items())
    assert out['meta'] == {'iter': 5, 'dataset_meta': {'classes': ['a', 'b']}}
    with pytest.raises(ValueError, match='no backbone'):
        torch.save({'state_dict': {'foo': torch.zeros(1)}}, tmp_path / 'x.pth')
        extract_student.extract(str(tmp_path / 'x.pth'), str(tmp_path / 'y.pth'))


def test_teacher_with_other_class_count_is_refused():
    with pytest.raises(ValueError, match='predicts 20 classes, the student 30'):
        build(num_classes=20)


def test_missing_panorama_is_a_named_error():
    model = build()
    inputs, samples = room_batch(4)
    del samples[0].panorama
    with pytest.raises(ValueError, match="room4 has no 'panorama'"):
        model.loss(inputs, samples)


def test_panorama_of_another_resolution_is_resized_for_teacher_and_rays():
    torch.manual_seed(0)
    model = build(raycaster=dict(type='TSDFRaycaster', height=8, width=16))
    model.init_weights()
    inputs, samples = room_batch(5)
    samples[0].panorama = torch.randint(0, 256, (3, 32, 64), dtype=torch.uint8)
    losses = model.loss(inputs, samples)
    assert model.teacher_logits(samples[0], inputs.device).shape == (30, 8, 16)
    entry = model._rooms.get(('room5', 0))  # rays at the raycaster's size, a row per hit
    assert entry.hits.valid.shape == (8, 16) and entry.hits.valid.sum() > 0
    assert entry.teacher_rows.shape == (int(entry.hits.valid.sum()), 30)
    assert torch.isfinite(losses[model.distill_loss.loss_name]) and \
        losses[model.distill_loss.loss_name] > 0


def test_room_cache_keeps_the_most_recently_used_rooms_within_its_budget():
    batches = {seed: room_batch(seed) for seed in (6, 7, 8)}
    sizes = {}
    unlimited = build(room_cache_mb=None)
    with torch.no_grad():
        for seed in (6, 7, 8):
            unlimited.loss(*batches[seed])
            sizes[seed] = unlimited._rooms.get((f'room{seed}', 0)).nbytes
    budget = max(sizes[6] + sizes[7], sizes[6] + sizes[8])  # two rooms fit, not three
    model = build(room_cache_mb=budget / 2**20)
    calls = []
    inference = model.teacher.inference
    model.teacher.inference = lambda *a, **k: calls.append(1) or inference(*a, **k)
    with torch.no_grad():
        for seed in (6, 7, 6, 8):  # 8 evicts 7, the least recently used
            model.loss(*batches[seed])
    assert model._rooms.keys() == [('room6', 0), ('room8', 0)] and model._rooms.nbytes <= budget
    assert len(calls) == 3  # room6's second visit came from the cache
    with torch.no_grad():
        model.loss(*batches[7])
    assert len(calls) == 4 and model._rooms.keys() == [('room8', 0), ('room7', 0)]
    with pytest.raises(ValueError, match='room_cache_mb'):
        build(room_cache_mb=0)


def test_a_room_without_3d_labels_trains_on_the_kd_term_alone(tmp_path):
    """Panorama-only rooms: LoadVolume gives every voxel 255, cross entropy is exactly 0 and
    the student still gets the KD gradient."""
    from segmenter3d.datasets.transforms import LoadVolume
    from segmenter3d.fileio import save_npz_atomic
    torch.manual_seed(0)
    room = generate_room(2, voxel_size=0.2)
    path = str(tmp_path / 'unlabelled.npz')
    save_npz_atomic(path, tsdf=room.tsdf, rgb=room.rgb, camera=room.camera)  # no labels
    loaded = LoadVolume().transform(dict(volume_path=path))
    assert not loaded['labelled'] and (loaded['gt_seg'] == 255).all()
    # labelled files can be read as unlabelled too (the label-scarce mix)
    labelled = str(tmp_path / 'labelled.npz')
    save_npz_atomic(labelled, tsdf=room.tsdf, rgb=room.rgb, labels=room.labels)
    assert (LoadVolume(with_labels=False).transform(
        dict(volume_path=labelled))['gt_seg'] == 255).all()
    model = build()
    model.init_weights()
    model.train()
    sample = VolumeDataSample(metainfo=dict(room_id='u', camera=room.camera))
    sample.gt_sem_seg = VolumeData(data=torch.from_numpy(loaded['gt_seg'].astype(np.int64))[None])
    sample.panorama = torch.randint(0, 256, (3, ) + PANO, dtype=torch.uint8)
    inputs = torch.from_numpy(loaded['volume'])[None]
    losses = model(inputs, [sample], mode='loss')
    assert losses['decode.loss_ce'].item() == 0 and losses['loss_dist'] > 0
    (losses['decode.loss_ce'] + losses['loss_dist']).backward()
    grads = [p.grad for p in model.decode_head.parameters()]
    assert all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)


def test_multi_view_kd_fuses_the_hits_of_every_view():
    """V panoramas from V cameras: the KD term is the per-hit average over all views' hits,
    i.e. the single-view terms weighted by their hit counts."""
    from segmenter3d.rendering import surface_coverage
    torch.manual_seed(0)
    model = build()
    model.init_weights()
    model.eval()  # no drop path: the same logits in every call
    inputs, samples = room_batch(3)
    room = samples[0]
    second = torch.as_tensor(room.metainfo['camera']) + torch.tensor([3.0, -2.0, 0.0])
    tsdf = input_tsdf(inputs[0, 0])
    assert tsdf[tuple(second.round().long())] >= 1  # the second camera stands in free space
    panoramas = torch.randint(0, 256, (2, 3) + PANO, dtype=torch.uint8)

    def kd(cameras, panos, room_id):
        s = VolumeDataSample(metainfo=dict(room_id=room_id, cameras=cameras, camera=cameras[0]))
        s.gt_sem_seg = room.gt_sem_seg
        s.panorama = panos
        return s, model(inputs, [s], mode='loss')['loss_dist']

    cams = [torch.as_tensor(room.metainfo['camera']), second]
    both_sample, both = kd(torch.stack(cams), panoramas, 'both')
    singles = [kd(c[None], p[None], f'v{i}') for i, (c, p) in enumerate(zip(cams, panoramas))]
    counts = [len(room_hits(model, tsdf, s, 0).valid.nonzero()) for s, _ in singles]
    want = sum(n * loss for n, (_, loss) in zip(counts, singles)) / sum(counts)
    torch.testing.assert_close(both, want, rtol=1e-4, atol=1e-6)
    # two views reach more of the room's surface than either alone
    projectors = room_projectors(model, tsdf, both_sample)
    assert len(projectors) == 2
    one, two = (surface_coverage(projectors[:1], tsdf), surface_coverage(projectors, tsdf))
    assert 0 < one < two <= 1
    assert surface_coverage(projectors[1:], tsdf) < two


def test_views_need_one_camera_per_panorama():
    model = build()
    inputs, samples = room_batch(0)
    samples[0].panorama = torch.zeros((2, 3) + PANO, dtype=torch.uint8)
    with pytest.raises(ValueError, match="has 2 panoramas but cameras None"):
        model(inputs, samples, mode='loss')


def test_ray_offsets_compare_the_teacher_pixel_along_the_ray_through_the_band():
    """KD at offsets (-2, 0, 2) is the mean of the three single-offset terms (every offset
    keeps the hit's pixels); -2 samples voxels in front of the surface, +2 behind it."""
    torch.manual_seed(0)
    model = build()
    model.init_weights()
    model.eval()
    inputs, samples = room_batch(4)
    room = samples[0]

    def kd(offsets, room_id):
        model.ray_offsets = offsets
        s = VolumeDataSample(metainfo=dict(room_id=room_id, camera=room.metainfo['camera']))
        s.gt_sem_seg, s.panorama = room.gt_sem_seg, room.panorama
        return s, model(inputs, [s], mode='loss')['loss_dist']

    singles = [kd((o, ), f'single{o}')[1] for o in (-2., 0., 2.)]
    band_sample, band = kd((-2., 0., 2.), 'band')
    torch.testing.assert_close(band, torch.stack(singles).mean(), rtol=1e-5, atol=1e-7)
    assert not torch.allclose(singles[0], singles[1])
    tsdf = input_tsdf(inputs[0, 0])  # stored convention: positive in free space
    entry = model._room(tsdf, band_sample)
    assert entry.kd_projectors[1] is entry.projector  # offset 0 is the hit itself
    depth = [tsdf.flatten()[p.voxels].mean() for p in entry.kd_projectors]
    assert depth[0] > 1 > depth[1] > depth[2]  # in front of, at, behind the surface
    with pytest.raises(ValueError, match=r'ray_offsets must be distinct offsets in voxels, '
                                         r'got \(0, 0\)'):
        build(ray_offsets=(0, 0))


@pytest.mark.parametrize('tau', [1.0, 20.0])
def test_voxel_space_kd_fits_each_hit_voxel_to_its_splatted_teacher(tau):
    """kd_space='voxel' against a float64 computation corner by corner: each voxel a valid
    hit reads gets the trilinear-weighted mean of its pixels' teacher distributions (two
    views fused) and weighs min(total weight, 1)."""
    torch.manual_seed(0)
    model = build(kd_space='voxel', distill_loss=dict(type='PanoramicKDLoss', tau=tau))
    inputs, samples = room_batch(3)
    room = samples[0]
    cams = torch.stack([torch.as_tensor(room.metainfo['camera']),
                        torch.as_tensor(room.metainfo['camera']) + torch.tensor([3., -2., 0.])])
    sample = VolumeDataSample(metainfo=dict(room_id='r', cameras=cams, camera=cams[0]))
    sample.gt_sem_seg = room.gt_sem_seg
    sample.panorama = torch.randint(0, 256, (2, 3) + PANO, dtype=torch.uint8)
    logits = torch.randn(1, 30, *inputs.shape[2:], requires_grad=True)
    model.encode_decode = lambda x, metas=None: logits
    got = model.loss(inputs, [sample])['loss_dist']

    tsdf = input_tsdf(inputs[0, 0])
    X, Y, Z = tsdf.shape
    total = torch.zeros(X * Y * Z, 30, dtype=torch.float64)
    weight = torch.zeros(X * Y * Z, dtype=torch.float64)
    for view in range(2):
        hits = room_hits(model, tsdf, sample, view)
        teacher = model.teacher_logits(sample, 'cpu', sample.panorama[view], view)
        probs = (teacher.double() / tau).softmax(0).flatten(1).t()[hits.valid.flatten()]
        points = hits.points[hits.valid].double()
        lo = points.floor()
        for corner in torch.cartesian_prod(*[torch.tensor([0., 1.])] * 3):
            w = torch.where(corner.bool(), points - lo, 1 - (points - lo)).prod(1)
            ids = (lo + corner).long()
            flat = (ids[:, 0] * Y + ids[:, 1]) * Z + ids[:, 2]
            total.index_add_(0, flat, w[:, None] * probs)
            weight.index_add_(0, flat, w)
    keep = weight > 0
    target = total[keep] / weight[keep, None]
    student = (logits[0].detach().double().flatten(1).t()[keep] / tau).log_softmax(1)
    kl = (target * (target.log() - student)).sum(1)
    w = weight[keep].clamp(max=1)
    want = tau**2 * (w * kl).sum() / w.sum() / 30
    torch.testing.assert_close(got.double(), want, rtol=1e-4, atol=1e-6)
    # the gradient reaches the splatted voxels only
    got.backward()
    touched = logits.grad[0].abs().sum(0).flatten() > 0
    assert touched.any() and not (touched & ~keep).any()
    with pytest.raises(ValueError, match="kd_space must be 'pixel' or 'voxel', got 'hits'"):
        build(kd_space='hits')


def _release_sample(root, pipeline):
    from segmenter3d.datasets import VolumeDataset
    dataset = VolumeDataset(ann_file='splits/test.txt', data_root=str(root),
                            data_prefix=dict(volume_path='volumes'), pipeline=pipeline)
    item = dataset[0]
    return item['inputs'], item['data_samples']


def test_release_room_gets_the_same_rays_padded_as_unpadded(tmp_path):
    """A release room (no stored camera) of 130 x 110 x 70, padded to multiples of 128 as the
    paper configs pad it, is seen from the centre of the room, not of the padded volume
    (which lies outside the room): the distiller's hits are those of the unpadded room."""
    from release_fixture import make_release_dataset
    make_release_dataset(str(tmp_path), rooms=(('room_d', 'test', (130, 110, 70)), ),
                         pano=(8, 16))
    load = [dict(type='LoadVolume'), dict(type='PackVolumeInputs')]
    padded = [dict(type='LoadVolume'), dict(type='PadVolume', size_divisor=128),
              dict(type='PackVolumeInputs')]
    model = build(raycaster=dict(type='TSDFRaycaster', height=16, width=32))
    hits = {}
    for name, pipeline in (('unpadded', load), ('padded', padded)):
        inputs, sample = _release_sample(tmp_path, pipeline)
        hits[name] = room_hits(model, input_tsdf(inputs[0].float()), sample)
        camera = np.asarray(sample.metainfo['camera'])
        assert ((camera >= 0) & (camera <= np.array([129, 109, 69]))).all()  # inside the room
    assert tuple(inputs.shape[1:]) == (256, 128, 128)
    np.testing.assert_array_equal(camera, [64.5, 54.5, 34.5])
    assert hits['unpadded'].valid.float().mean() > 0.9
    assert torch.equal(hits['padded'].valid, hits['unpadded'].valid)
    torch.testing.assert_close(hits['padded'].points, hits['unpadded'].points, atol=1e-4,
                               rtol=0)


def test_without_a_camera_the_distiller_uses_the_unpadded_centre_from_ori_shape():
    sample = VolumeDataSample(metainfo=dict(ori_shape=(130, 110, 70)))
    (camera, _), = build().views(sample, (256, 128, 128))
    torch.testing.assert_close(camera, torch.tensor([64.5, 54.5, 34.5]))
