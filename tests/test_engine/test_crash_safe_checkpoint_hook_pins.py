"""CrashSafeCheckpointHook reorders mmengine's rotation by overriding private methods of
``CheckpointHook`` and swapping its backend's ``remove`` while the best checkpoint is saved.
Those internals are not an API: this test pins the source of every method the hook overrides
or wraps, so an mmengine upgrade that changes them fails here, where the hook must be read
again, instead of in a crashed run. Requirements pin mmengine to the tested range too."""
import hashlib
import inspect

import mmengine
from mmengine.hooks import CheckpointHook

from segmenter3d.engine.hooks import CrashSafeCheckpointHook

# sha256 (16 hex digits) of each method's source in mmengine 0.10.7
PINNED = {
    '_save_checkpoint_with_step': 'cdbc1b54c7c88d95',  # overridden: rotation reordered
    '_save_best_checkpoint': '8e1e477297ea08d7',  # wrapped: removals deferred
    'before_train': '88570c95d1e437f5',  # wrapped: resumed paths confined first
    # read, not overridden: it sets the attributes the overrides use (out_dir, keep_ckpt_ids,
    # max_keep_ckpts, filename_tmpl, key_indicators, best_ckpt_path(_dict), save_*, args)
    '__init__': '0671bcaab2e02c4b',
}


def test_the_mmengine_internals_the_hook_builds_on_are_unchanged():
    changed = {}
    for name, digest in PINNED.items():
        source = inspect.getsource(getattr(CheckpointHook, name))
        got = hashlib.sha256(source.encode()).hexdigest()[:16]
        if got != digest:
            changed[name] = got
    assert not changed, (f'mmengine {mmengine.__version__} changed CheckpointHook.'
                         f'{sorted(changed)}: read crash_safe_checkpoint_hook.py against it, '
                         'then update PINNED')


def test_the_hook_still_overrides_what_it_pins_and_uses_the_backend_calls_it_swaps():
    for name in PINNED:
        if name != '__init__':
            assert name in vars(CrashSafeCheckpointHook), name
    # the deferred removals replace these two backend methods while the best is saved
    from mmengine.fileio.backends import LocalBackend
    assert callable(LocalBackend.remove) and callable(LocalBackend.rmtree)
    source = inspect.getsource(CheckpointHook._save_best_checkpoint)
    assert 'file_backend.remove' in source or 'file_client.remove' in source
