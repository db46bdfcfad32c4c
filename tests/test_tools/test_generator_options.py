"""tools/data/generate_synthrooms.py with options no room can have: one ``error:`` line naming
the option, before the output folder exists (a bad value used to be recorded in
``generator.json``, after which even the corrected rerun was refused)."""
import pytest

from conftest import load_tool

generate = load_tool('data/generate_synthrooms')
SMALL = ['--num-rooms', '1', '--voxel-size', '0.3', '--pano-size', '8', '16', '--max-extent',
         '3']


@pytest.mark.parametrize('options,message', [
    (('--num-rooms', '100000'), '--num-rooms must be an integer from 1 to 99,999, got 100000'),
    (('--seed', '-1'), '--seed must be an integer from 0'),
    (('--workers', '0'), '--workers must be an integer from 1 to 1,024, got 0'),
    (('--voxel-size', '0'), '--voxel-size must be a finite number from 0.001 to 1 metres'),
    (('--voxel-size', 'nan'), '--voxel-size must be a finite number'),
    (('--voxel-size', '1e9'), '--voxel-size must be a finite number'),
    (('--voxel-size', '0.002', '--max-extent', '8'),
     '--voxel-size 0.002: the largest room would have about 27,49'),
    (('--max-extent', 'nan'), '--max-extent must be a finite number from 2 to 1000 metres'),
    (('--max-extent', '0'), '--max-extent must be a finite number from 2'),
    (('--split', 'nan', '0.1', '0.1'), '--split must be 3 finite non-negative ratios'),
    (('--split', '0', '0', '0'), '--split must be 3 finite non-negative ratios, not all 0'),
    (('--depth-noise', 'inf'), '--depth-noise must be a finite number from 0 to 1 metres'),
    (('--scan-cameras', '-1'), '--scan-cameras must be an integer from 0 to 1,000, got -1'),
    (('--scan-frames', '20000'), '--scan-frames must be an integer from 0 to 1,000'),
    (('--pano-size', '1', '1'), '--pano-size must be H W, at least 8 x 16 and at most '
     '100,000,000 pixels (what the datasets read), got [1, 1]'),
    (('--pano-size', '100000', '100000'), '--pano-size must be H W, at least 8 x 16'),
])
def test_options_no_room_can_have_are_named_before_anything_is_written(tmp_path, options,
                                                                       message):
    out = tmp_path / 'rooms'
    with pytest.raises(SystemExit) as info:
        generate.main(['--out', str(out)] + SMALL + list(options))
    assert str(info.value).startswith('error: ') and message in str(info.value), info.value
    assert '\n' not in str(info.value) and not out.exists()


def test_unwritable_or_empty_out_is_named(tmp_path):
    blocker = tmp_path / 'afile'
    blocker.write_bytes(b'keep')
    for out, message in ((str(blocker / 'rooms'), f'{blocker}/rooms: cannot be written'),
                         ('', '--out is empty')):
        with pytest.raises(SystemExit) as info:
            generate.main(['--out', out] + SMALL)
        assert str(info.value).startswith('error: ') and message in str(info.value)
    assert blocker.read_bytes() == b'keep'


def test_a_corrected_rerun_after_a_refused_option_generates(tmp_path):
    out = tmp_path / 'rooms'
    with pytest.raises(SystemExit):
        generate.main(['--out', str(out)] + SMALL + ['--depth-noise', 'nan'])
    generate.main(['--out', str(out)] + SMALL + ['--workers', '64'])  # clamped to the rooms
    assert (out / 'splits' / 'training.txt').read_text().split() == ['room_00000']
    assert (out / 'volumes' / 'room_00000.npz').is_file()
