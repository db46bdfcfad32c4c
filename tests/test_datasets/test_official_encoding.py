"""The network input of a release room is the reference release's own input tensor."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmseg.registry import DATASETS, MODELS

from conftest import CONFIGS
from segmenter3d.encoding import EMPTY_INPUT, encode_input, input_tsdf, pad_input


def _release_room(rng, shape=(20, 24, 16)):
    """sdf128 +1 in free space, negative inside objects (the release's sign), a surface band."""
    sdf128 = np.ones(shape, np.float32)
    sdf128[:, :, :3] = -0.8  # floor slab
    sdf128[:, :, 3] = rng.uniform(-0.3, 0.3, shape[:2])  # surface band
    sdf128[:, :, 4:6] = rng.uniform(0.2, 0.99, (shape[0], shape[1], 2))
    sdf128[5:9, 6:12, 4:10] = -0.5  # a box
    color128 = rng.integers(0, 2**24, shape).astype(np.int64)
    raw = rng.integers(0, 99, shape).astype(np.int64)
    return dict(sdf128=sdf128, color128=color128, semanticlabel=raw)


def _official_input(room):
    """The reference's input, written from its description: sdf = -3 * sdf128; colour
    2c - 1 with c = unpacked rgb / 255, -1 where sdf is at the free-space truncation (-3)."""
    sdf = -3.0 * room['sdf128'].astype(np.float64)
    packed = room['color128']
    rgb = np.stack([packed % 256, (packed // 256) % 256, (packed // 65536) % 256])
    colour = 2.0 * (rgb / 255.0) - 1.0
    colour[:, sdf <= -3] = -1.0
    return np.concatenate([sdf[None], colour]).astype(np.float32)


def test_release_room_through_paper_config_gives_the_official_tensor(tmp_path):
    rng = np.random.default_rng(0)
    room = _release_room(rng)
    (tmp_path / 'volumes').mkdir()
    (tmp_path / 'splits').mkdir()
    np.savez_compressed(tmp_path / 'volumes' / 'room_a.npz', **room)
    (tmp_path / 'splits' / 'test.txt').write_text('room_a\n')
    cfg = Config.fromfile(osp.join(CONFIGS, '3dseg', '3dseg-l_panorooms.py'))
    dataset_cfg = cfg.test_dataloader.dataset
    dataset_cfg.update(data_root=str(tmp_path), data_prefix=dict(volume_path='volumes'))
    dataset = DATASETS.build(dataset_cfg)
    preprocessor = MODELS.build(cfg.model.data_preprocessor)
    batch = preprocessor(pseudo_collate([dataset[0]]), False)
    got = batch['inputs'][0].numpy()
    want = _official_input(room)
    assert got.shape == want.shape == (4, 20, 24, 16)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    # the official tensor's own facts: free space -3 with colour -1; solid positive
    assert (got[0, :, :, -1] == -3).all() and (got[1:, :, :, -1] == -1).all()
    assert (got[0, 6, 8, 6] > 0)


def test_preprocessor_pads_with_official_empty_space():
    cfg = Config.fromfile(osp.join(CONFIGS, '3dseg', '3dseg-l_panorooms.py'))
    preprocessor = MODELS.build(cfg.model.data_preprocessor)
    small, big = torch.zeros(4, 3, 4, 5), torch.ones(4, 6, 4, 5)
    batch = preprocessor(dict(inputs=[small, big]), False)['inputs']
    assert batch.shape == (2, 4, 6, 4, 5)
    padded = batch[0, :, 3:]
    torch.testing.assert_close(padded, torch.tensor(EMPTY_INPUT).view(4, 1, 1, 1).expand_as(padded))
    assert EMPTY_INPUT == (-3.0, -1.0, -1.0, -1.0)


def test_encode_input_sign_and_unobserved_colour():
    tsdf = np.array([3.5, 3.0, 2.9, 0.0, -1.0, -4.0], np.float32).reshape(6, 1, 1)
    rgb = np.full((3, 6, 1, 1), 255, np.uint8)
    x = encode_input(tsdf, rgb)
    np.testing.assert_allclose(x[0, :, 0, 0], [-3, -3, -2.9, 0, 1, 3], atol=1e-6)
    np.testing.assert_allclose(x[1:, :, 0, 0], [[-1, -1, 1, 1, 1, 1]] * 3, atol=1e-6)
    np.testing.assert_allclose(input_tsdf(x[0]), np.clip(tsdf, -3, 3), atol=1e-6)


@pytest.mark.parametrize('as_tensor', [False, True])
def test_pad_input_keeps_values_and_fills_each_channel(as_tensor):
    vol = np.arange(2 * 2 * 3 * 1, dtype=np.float32).reshape(2, 2, 3, 1)
    vol = torch.from_numpy(vol) if as_tensor else vol
    out = pad_input(vol, (3, 3, 2), values=(7., -2.))
    assert tuple(out.shape) == (2, 3, 3, 2)
    out = np.asarray(out)
    np.testing.assert_array_equal(out[:, :2, :3, :1], np.asarray(vol))
    assert (out[0, 2] == 7).all() and (out[1, :, :, 1] == -2).all()
    assert pad_input(vol, (1, 1, 1), values=(0., 0.)) is vol  # nothing grows: no copy
    with pytest.raises(ValueError, match='1 pad values for 2 channels'):
        pad_input(vol, (4, 4, 4), values=(0., ))
