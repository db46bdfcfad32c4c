"""PanoDistiller on a batch of rooms of different sizes, padded by the data preprocessor."""
import pytest
import torch
from test_pano_distiller import build, room_batch


@pytest.mark.parametrize('camera', [True, False], ids=['room camera', 'room centre'])
def test_padded_rooms_distil_as_each_room_alone(camera):
    """The preprocessor pads the smaller room with empty space; the distiller crops each room
    back (``padded_from``) before casting its rays, so the batch's KD term is the mean of the
    rooms' own terms, on the same student logits. A room without a camera is seen from its
    own centre, not from the centre of the padded batch."""
    torch.manual_seed(0)
    model = build()
    model.eval()  # the teacher's and the decode head's forward are deterministic
    rooms = [room_batch(seed) for seed in (11, 12)]
    if not camera:
        for _, samples in rooms:
            del samples[0].camera
            assert 'camera' not in samples[0].metainfo
    shapes = [tuple(inputs.shape[2:]) for inputs, _ in rooms]
    assert shapes[0] != shapes[1]
    data = model.data_preprocessor(dict(inputs=[inputs[0] for inputs, _ in rooms],
                                        data_samples=[samples[0] for _, samples in rooms]))
    size = tuple(data['inputs'].shape[2:])
    assert size == tuple(max(s) for s in zip(*shapes)) and size not in shapes
    assert [s.metainfo['padded_from'] for s in data['data_samples']] == shapes
    field = torch.randn(2, 30, *size)  # student logits: a fixed field per batch slot
    model.encode_decode = lambda x, metas=None: field
    batch = model.loss(data['inputs'], data['data_samples'])['loss_dist']

    alone = []
    for i, (inputs, samples) in enumerate(rooms):
        X, Y, Z = shapes[i]
        crop = field[i:i + 1, :, :X, :Y, :Z]
        single = build()
        single.eval()
        single.teacher.load_state_dict(model.teacher.state_dict())
        single.encode_decode = lambda x, metas=None, crop=crop: crop
        alone.append(single.loss(inputs, samples)['loss_dist'])
    torch.testing.assert_close(batch, torch.stack(alone).mean())
