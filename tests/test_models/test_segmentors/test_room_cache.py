import pytest
import torch

from segmenter3d.models.segmentors.room_cache import RoomCache, RoomEntry
from segmenter3d.rendering import HitProjector, TSDFRaycaster
from segmenter3d.synthrooms import generate_room


@pytest.fixture(scope='module')
def room():
    room = generate_room(3, voxel_size=0.2)
    return torch.from_numpy(room.tsdf), torch.from_numpy(room.camera)


def test_cast_entry_matches_the_raycaster_and_counts_every_tensor_once(room):
    tsdf, camera = room
    caster = TSDFRaycaster(16, 32)
    entry = RoomEntry.cast(caster, tsdf, camera, ray_offsets=(0., 0.5))
    hits = caster.cast(tsdf.float(), camera)
    torch.testing.assert_close(entry.hits.points, hits.points)
    assert torch.equal(entry.hits.valid, hits.valid)
    # offset 0 reuses the hit projector; a further offset keeps the same hit pixels
    assert entry.kd_projectors[0] is entry.projector
    assert torch.equal(entry.kd_projectors[1].pixels, entry.projector.pixels)
    behind = HitProjector(hits.behind(camera, 0.5), tsdf.shape)
    logits = torch.randn(5, *tsdf.shape)
    torch.testing.assert_close(entry.kd_projectors[1].sample(logits), behind.sample(logits))

    rays = hits.points.nbytes + hits.depth.nbytes + hits.valid.nbytes
    assert entry.nbytes == (rays + entry.projector.nbytes + entry.kd_projectors[1].nbytes)
    # the shared projector is not counted twice, and the teacher's rows add their bytes
    alone = RoomEntry.cast(caster, tsdf, camera)
    assert alone.nbytes == rays + alone.projector.nbytes
    alone.teacher_rows = torch.zeros(len(alone.projector.pixels), 30, dtype=torch.float16)
    assert alone.nbytes == rays + alone.projector.nbytes + 2 * 30 * len(alone.projector.pixels)


def test_cache_drops_the_least_recently_used_room_beyond_its_budget(room):
    tsdf, camera = room
    entry = RoomEntry.cast(TSDFRaycaster(16, 32), tsdf, camera)
    cache = RoomCache(max_mb=2.5 * entry.nbytes / 2**20)
    for key in 'abc':
        cache.put(key, entry)
        if key == 'b':
            assert cache.get('a') is entry  # a is now the most recent
    assert cache.keys() == ['a', 'c'] and cache.get('b') is None
    with pytest.raises(ValueError, match='room_cache_mb'):
        RoomCache(max_mb=0)
