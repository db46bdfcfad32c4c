"""Whole-room inference from Python: what it returns, and that it leaves the model as it was."""
import copy

import numpy as np
import torch

from conftest import build_model_from_config
from segmenter3d.apis import inference_room, predict_room


def test_inference_room_returns_cpu_logits_and_leaves_test_cfg_alone():
    torch.manual_seed(0)
    model = build_model_from_config('3dseg/3dseg-t_synthrooms.py')
    model.init_weights()
    model.eval()
    model.test_cfg.update(crop_size=16, stride=8)
    before = copy.deepcopy(dict(model.test_cfg))
    volume = np.random.default_rng(0).uniform(-1, 1, (4, 20, 18, 12)).astype(np.float32)
    logits = inference_room(model, volume, progress=True)
    assert isinstance(logits, torch.Tensor) and logits.device.type == 'cpu'
    assert logits.shape == (30, 20, 18, 12)
    with torch.no_grad():
        want = model.slide_inference(torch.from_numpy(volume)[None])[0]
    torch.testing.assert_close(logits, want)
    labels = predict_room(model, volume)
    assert labels.dtype == np.uint8
    np.testing.assert_array_equal(labels, logits.argmax(0).numpy())
    assert dict(model.test_cfg) == before  # 'progress' was never written into it
