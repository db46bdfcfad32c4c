# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Running the command-line tools as steps of a larger job (``make demo``, the paper tables,
the recipe study): each step is a subprocess with its own log, results are read back from
the files the tools write."""
import argparse
import contextlib
import fcntl
import glob
import inspect
import json
import os
import os.path as osp
import signal
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence

#: the repository root (tools/ and configs/ live here): this file's own checkout, whether or
#: not the package is installed from it (a non-editable install copies only the package)
ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# The studies' generated rooms (tools/data/generate_synthrooms.py, made when absent): 96 rooms
# split 48/24/24, and 960 panorama-only rooms for the distillation rows that add rooms without
# 3D labels. Named after the generator, like the configs' data/synthrooms.
STUDY_DATA = 'data/synthrooms-study'
STUDY_PANO2D = 'data/synthrooms-study-pano2d'
# Panoramas per training room (tools/data/render_views.py): what the teacher trains on and
# what the multi-view distillation fuses.
VIEWS = 8

# Lines of a tool's output worth showing on the terminal while it runs.
_SHOWN = ('Iter(val)', 'Iter(test)', 'rooms', 'Error', 'error')


@contextlib.contextmanager
def updating_json(path: str):
    """The JSON record at ``path`` (``{}`` if absent), read afresh under a lock and written back
    atomically when the block ends without an error: studies that run side by side and update
    the same record (``benchmarks/*.json``) must not drop each other's entries."""
    with open(path + '.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        record = json.load(open(path)) if osp.isfile(path) else {}
        yield record
        write_json(path, record, sort_keys=True)


def write_json(path: str, data: dict, sort_keys: bool = False) -> None:
    """``data`` into ``path`` atomically: a stop mid-write leaves the old file whole."""
    with open(path + '.tmp', 'w') as f:
        json.dump(data, f, indent=1, sort_keys=sort_keys)
    os.replace(path + '.tmp', path)


def run(cmd: List[str], log: str, quiet: bool = False) -> float:
    """Run ``cmd`` in the repository root, teeing its output into ``log``; seconds taken.

    Progress lines and results are echoed (unless ``quiet``); a failure exits with the log's
    path, so the job stops at the first broken step.
    """
    if not quiet:
        print(f'\n$ {" ".join(cmd)}\n  (log: {log})', flush=True)
    start = time.time()
    # line-buffered: a user tailing the log sees each line as the tool prints it
    with open(log, 'w', buffering=1) as f:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, bufsize=1, env=dict(os.environ, PYTHONUNBUFFERED='1'))
        try:
            for line in proc.stdout:
                f.write(line)
                if not quiet and (any(k in line for k in _SHOWN) or
                                  ('Iter(train)' in line and '00/' in line)):
                    print('  ' + line.rstrip()[-160:], flush=True)
        except BaseException:  # we were stopped (Ctrl-C, SIGTERM): the tool stops with us
            proc.terminate()  # a training run saves the iteration it is in (SaveOnStopHook)
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
            raise
        if proc.wait():
            sys.exit(f'command failed ({proc.returncode}); see {log}')
    return time.time() - start


def render_views(data: str, log: str) -> None:
    """The :data:`VIEWS` panoramas of each training room of ``data`` (the tool skips rooms
    that have them)."""
    run(python_tool('tools/data/render_views.py', '--data', data, '--views', str(VIEWS)), log)


def python_tool(script: str, *args: str) -> List[str]:
    """The command line of one of the repository's tools with this interpreter."""
    return [sys.executable, script] + list(args)


def last_metrics(test_dir: str) -> dict:
    """The metrics JSON of the latest ``tools/test.py`` run in ``test_dir`` ({} if none)."""
    results = sorted(glob.glob(osp.join(test_dir, '*', '*.json')))
    return json.load(open(results[-1])) if results else {}


def last_checkpoint(work_dir: str) -> str:
    return open(osp.join(work_dir, 'last_checkpoint')).read().strip()


def iters_options(iters: Optional[int], val_interval: Optional[int] = None) -> List[str]:
    """``--cfg-options`` that set a run's length (validation and checkpoint at its end)."""
    if not iters:
        return []
    every = val_interval or iters
    return [f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={every}',
            f'default_hooks.checkpoint.interval={every}']


def option_path(path: str, flag: str = '--data') -> str:
    """``path`` as a ``--cfg-options`` value. mmengine's parser splits values at commas and
    deletes every space (``/tmp/my data`` would become ``/tmp/mydata``) and reads quotes and
    brackets as syntax, so such paths are refused rather than silently changed."""
    bad = sorted({c for c in path if c.isspace() or c in ',\'"[]()'})
    if bad:
        raise ValueError(f'{flag} {path}: a data path given to the configs cannot hold '
                         f'{" ".join(repr(c) for c in bad)} (mmengine\'s --cfg-options would '
                         'change it); use a path without them, or a symlink to it')
    return path


def data_options(data_root: str) -> List[str]:
    option_path(data_root)
    return [f'{k}_dataloader.dataset.data_root={data_root}' for k in ('train', 'val', 'test')]


def pano2d_options(data: str, pano2d: str) -> List[str]:
    """``data_options`` of a config whose training set concatenates labelled rooms
    (``datasets.0``) and panorama-only rooms (``datasets.1``): the teacher's and the
    ``+pano2d`` distillation's."""
    option_path(data)
    option_path(pano2d, '--pano2d')
    return [f'train_dataloader.dataset.datasets.0.data_root={data}',
            f'train_dataloader.dataset.datasets.1.data_root={pano2d}',
            f'val_dataloader.dataset.data_root={data}', f'test_dataloader.dataset.data_root={data}']


def exit_on_sigterm() -> None:
    """A stop (``kill``) unwinds a driver like Ctrl-C: the tool it is running is stopped
    with it (:func:`run`; a training run saves the iteration it is in) and a run's state
    records its seconds, so the next call continues it."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def add_options_argument(parser, runs: str = 'every row', note: str = '',
                         example: str = 'train_cfg.max_iters=2 '
                         'train_dataloader.num_workers=0') -> None:
    """The drivers' ``--options``: more ``--cfg-options`` of every run, which each run's
    record keeps (a finished run made with other options is made again). A study with
    options is another study: give it its own ``--out`` (runs of the same name in one
    ``--out`` replace each other)."""
    parser.add_argument('--options', nargs='+', default=[],
                        help=f'more --cfg-options of {runs}, e.g. for a smoke run: {example}; '
                        "kept in each run's record, so a run made with other options is made "
                        f'again (give such a study its own --out){note}. Put it after the '
                        'other arguments')


def add_distillation_arguments(parser: argparse.ArgumentParser, teacher: str,
                               labelled_rooms: Optional[int] = 12) -> None:
    """The arguments the distillation drivers (``paper_tables.py --distill``,
    ``kd_study.py``) share, spelt and explained once: the labelled rooms of the label-scarce
    setting (``labelled_rooms`` by default; ``None``: the count chosen on the validation
    rooms, studies/scarcity.py) and the teacher's config."""
    parser.add_argument('--labelled-rooms', type=int, default=labelled_rooms,
                        help='rooms that keep their 3D labels in the label-scarce runs' +
                        (' (default: the count chosen on the validation rooms by '
                         '--choose-scarcity)' if labelled_rooms is None else ''))
    parser.add_argument('--teacher-config', default=teacher,
                        help="the panorama teacher's config (its checkpoint's architecture)")


def schedule_options(iters: int) -> List[str]:
    """A block-training run of ``iters`` iterations with its decay stretched to the end
    (``param_scheduler.1`` is the decay after the warm-up in our CPU schedules)."""
    return [f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
            f'default_hooks.checkpoint.interval={iters}', f'param_scheduler.1.end={iters}']


def merged_config(config: str, options: Sequence[str]) -> dict:
    """``config`` (relative to the repository) with ``--cfg-options`` items applied as
    ``tools/train.py`` parses them, as a plain dict."""
    from mmengine.config import Config, DictAction
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={})
    cfg = Config.fromfile(osp.join(ROOT, config))
    cfg.merge_from_dict(parser.parse_args(['--cfg-options', *options]).cfg_options
                        if options else {})
    merged = cfg.to_dict()
    if 'model' in merged:
        merged['model'] = model_arguments(merged['model'])
    return merged


def run_iters(config: str, options: Sequence[str]) -> int:
    """The iterations a run of ``config`` with ``options`` trains for (what its record says)."""
    return merged_config(config, options)['train_cfg']['max_iters']


def model_arguments(model: dict) -> dict:
    """A model config with the defaults of its class's arguments filled in: a config that
    states a default (the oracle's ``smoothing=0.1``) builds the model one that leaves it out
    builds."""
    from mmseg.registry import MODELS
    cls = MODELS.get(model.get('type', ''))
    if cls is None:
        return model
    defaults = {name: p.default for name, p in inspect.signature(cls.__init__).parameters.items()
                if p.default is not inspect.Parameter.empty}
    return {**defaults, **model}


def same_run(config: Optional[str], options: Optional[Sequence[str]], other_config: str,
             other_options: Sequence[str]) -> bool:
    """Whether two (config, options) pairs make the same run: the same strings, or configs
    that merge to the same dict (a row moved from option strings into its own config file
    keeps its finished runs)."""
    if config == other_config and list(options or []) == list(other_options):
        return True
    if config is None or options is None:
        return False
    try:
        return merged_config(config, options) == merged_config(other_config, other_options)
    except (FileNotFoundError, OSError, ValueError, KeyError, SyntaxError):
        return False  # e.g. a config file renamed since: the run is made again


def _renamed(path: str, record: Dict, config: str, options: Sequence[str]) -> Dict:
    """A reused ``record`` naming the ``config`` and ``options`` asked for now (kept at
    ``path``), with the pair it was made as under ``made_as`` when that differs: a run made
    as a base config plus option strings is recorded under the row's file that merges to it."""
    if (record.get('config'), list(record.get('options') or [])) == (config, list(options)):
        return record
    record.setdefault('made_as', dict(config=record.get('config'),
                                      options=record.get('options')))
    record.update(config=config, options=list(options))
    write_json(path, record)
    return record


def train_and_test(work_dir: str, config: str, options: Sequence[str], log_prefix: str,
                   split: str = 'test',
                   keys: Sequence[str] = ('mIoU', 'surface_mIoU', 'mAcc', 'aAcc'),
                   test_options: Sequence[str] = (), test_args: Sequence[str] = ()) -> Dict:
    """Train ``config`` (unless ``work_dir`` holds a finished record of the same config and
    options) and test it on the ``split`` rooms (``test_options`` added to its
    ``--cfg-options``, ``test_args`` to its command line); the record: metrics, training
    seconds (wall-clock of the training process), the checkpoint, the config and options.
    Kept as ``work_dir/record_<split>.json``; a record made with another config or other
    options (e.g. another teacher checkpoint) is not reused: the run is made again."""
    record_path = osp.join(work_dir, f'record_{split}.json')
    options = list(options)
    if osp.isfile(record_path):
        record = json.load(open(record_path))
        if same_run(record.get('config'), record.get('options'), config, options):
            return _renamed(record_path, record, config, options)
        print(f'  {record_path}: made with other options; running again', flush=True)
    state = train_in_segments(work_dir, config, options,
                              lambda n: log_prefix + (f'_train{n}.log' if n else '_train.log'))
    record = dict(train_seconds=round(sum(state['segments']), 1), config=config,
                  options=options)
    return _test(work_dir, record, log_prefix, split, keys, test_options, test_args)


def train_in_segments(work_dir: str, config: str, options: Sequence[str],
                      log: Callable[[int], str], state_name: str = 'run_state.json',
                      set_aside: bool = False, label: str = '') -> Dict:
    """Train ``config`` with ``options`` in ``work_dir`` to its end: from scratch, or on from
    the last checkpoint when an earlier segment of the same run (same config and options)
    was stopped. A run stopped with SIGTERM saved the iteration it was in
    (``SaveOnStopHook``); a killed one resumes from its last periodic checkpoint. The state
    (config, options, each segment's wall-clock seconds, whether training finished) is kept
    as ``work_dir/state_name``; segment ``n`` logs into ``log(n)``.

    The state is written before training starts, so a segment killed outright (no chance to
    write on the way out) still resumes; its seconds are then counted up to the checkpoint
    the next segment resumes from (``running_since`` to that checkpoint's time), the part of
    its work the run keeps. A work dir holding another run is trained over
    (``tools/train.py --overwrite``), or first moved aside to ``<work_dir>.replaced-<time>``
    with ``set_aside`` (a learning curve reads every log in its work dir).
    """
    options = list(options)
    state_path = osp.join(work_dir, state_name)
    state = json.load(open(state_path)) if osp.isfile(state_path) else {}
    # states written before they named their config are the runs of the same config
    same = state.get('options') == options and state.get('config', config) == config
    if same and state.get('trained'):
        return state  # stopped while testing: the training is done
    last = osp.join(work_dir, 'last_checkpoint')
    resume = same and osp.isfile(last)
    if not resume:
        if set_aside and osp.isdir(work_dir) and os.listdir(work_dir):
            stamp, n = time.strftime('%Y%m%d_%H%M%S'), 0
            while osp.exists(aside := f'{work_dir}.replaced-{stamp}' + (f'-{n}' if n else '')):
                n += 1
            os.rename(work_dir, aside)
            print(f'  {work_dir}: an older run, moved to {aside}', flush=True)
        elif osp.isfile(last):
            # the older run's marker: were this run stopped before its first save, the next
            # segment would take that run's checkpoint for this one's and resume it
            os.remove(last)
        state = dict(config=config, options=options, segments=[], trained=False)
    elif 'running_since' in state:
        state['segments'].append(round(max(0.0, osp.getmtime(last) - state['running_since']), 1))
    state['config'] = config
    os.makedirs(work_dir, exist_ok=True)
    path = log(len(state['segments']))
    if label or resume:
        print(f'{label or work_dir}{" (resumed)" if resume else ""}; log {path}', flush=True)
    start = state['running_since'] = time.time()
    write_json(state_path, state)
    try:
        seconds = run(python_tool('tools/train.py', config, '--work-dir', work_dir,
                                  '--resume' if resume else '--overwrite', '--cfg-options',
                                  *options), path, quiet=True)
        state['trained'] = True
    except BaseException:
        # the seconds of a stopped segment count too: the next one continues from its
        # last checkpoint
        seconds = time.time() - start
        raise
    finally:
        del state['running_since']
        state['segments'].append(round(seconds, 1))
        write_json(state_path, state)
    return state


def test_finished(work_dir: str, log_prefix: str, split: str, trained_split: str = 'validation',
                  keys: Sequence[str] = ('mIoU', 'surface_mIoU')) -> Dict:
    """The last checkpoint of a run :func:`train_and_test` finished on the ``trained_split``
    rooms, tested on the ``split`` rooms as it was trained (its config and options): how a
    recipe chosen on the validation rooms is reported on the test rooms without training it
    again. Kept as ``work_dir/record_<split>.json``, reused while it names the same config,
    options and checkpoint."""
    trained_path = osp.join(work_dir, f'record_{trained_split}.json')
    if not osp.isfile(trained_path):
        raise FileNotFoundError(f'{trained_path}: no finished run to test on the {split} rooms')
    trained = json.load(open(trained_path))
    record_path = osp.join(work_dir, f'record_{split}.json')
    if osp.isfile(record_path):
        record = json.load(open(record_path))
        if record.get('checkpoint') == trained.get('checkpoint') and same_run(
                record.get('config'), record.get('options'), trained['config'],
                trained['options']):
            return _renamed(record_path, record, trained['config'], trained['options'])
    return _test(work_dir, trained, log_prefix, split, keys)


def _test(work_dir: str, record: Dict, log_prefix: str, split: str, keys: Sequence[str],
          test_options: Sequence[str] = (), test_args: Sequence[str] = ()) -> Dict:
    """Test a trained run's last checkpoint on the ``split`` rooms; ``record`` (its config,
    options, training seconds) with the metrics and checkpoint added, kept as
    ``work_dir/record_<split>.json``."""
    ckpt = last_checkpoint(work_dir)
    options = list(record['options']) + [f'test_dataloader.dataset.ann_file=splits/{split}.txt',
                                         *test_options]
    run(python_tool('tools/test.py', record['config'], ckpt, '--work-dir',
                    osp.join(work_dir, split), *test_args, '--cfg-options', *options),
        log_prefix + f'_{split}.log', quiet=True)
    metrics = last_metrics(osp.join(work_dir, split))
    record = dict(metrics={k: metrics[k] for k in keys if k in metrics},
                  train_seconds=record['train_seconds'], checkpoint=ckpt,
                  config=record['config'], options=list(record['options']))
    with open(osp.join(work_dir, f'record_{split}.json'), 'w') as f:
        json.dump(record, f, indent=1)
    return record


def time_inference(config: str, ckpt: str, volumes: Sequence, repeats: int = 3):
    """Parameters and the median over ``repeats`` of the total inference seconds of a model
    over network-input ``volumes`` (its own ``test_cfg``)."""
    from segmenter3d.apis import inference_room, init_segmentor
    model = init_segmentor(config, ckpt)
    params = sum(p.numel() for p in model.parameters())
    inference_room(model, volumes[0])  # warm-up: allocator, thread pool
    totals = []
    for _ in range(repeats):
        start = time.perf_counter()
        for volume in volumes:
            inference_room(model, volume)
        totals.append(time.perf_counter() - start)
    return params, statistics.median(totals)


def write_report(out: str, name: str, results: dict, lines: Sequence[str]) -> str:
    """A study's results as ``out/name.json`` and its markdown table as ``out/name.md``;
    returns the markdown."""
    text = '\n'.join(lines) + '\n'
    with open(osp.join(out, f'{name}.md'), 'w') as f:
        f.write(text)
    with open(osp.join(out, f'{name}.json'), 'w') as f:
        json.dump(results, f, indent=1)
    return text


def mean_std(values: Sequence[float]) -> str:
    """``mean ± std`` (sample std) of a few seeds' numbers, or the number for one seed."""
    if not values:
        return '-'
    if len(values) == 1:
        return f'{values[0]:.2f}'
    return f'{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}'


# generator settings of the study rooms (8 cm voxels, 256x512 panoramas, at most 6 m a side)
STUDY_ROOMS = ('--voxel-size', '0.08', '--pano-size', '256', '512', '--max-extent', '6',
               '--workers', '2')


def ensure_rooms(data: str, num_rooms: int, log_dir: str, split: str = 'test',
                 generator_args: Sequence[str] = ()) -> List[str]:
    """The ``split`` room names of ``data``, generating the study rooms first when absent:
    ``num_rooms`` at 8 cm (at most 6 m a side), half training, a quarter validation, a
    quarter test; ``generator_args`` are more options of the generator (e.g. scanned rooms,
    ``--scan-frames 100``)."""
    path = osp.join(data, 'splits', f'{split}.txt')
    if not osp.isfile(path):
        run(python_tool('tools/data/generate_synthrooms.py', '--out', data, '--num-rooms',
                        str(num_rooms), '--split', '0.5', '0.25', '0.25', *STUDY_ROOMS,
                        *generator_args),
            osp.join(log_dir, 'generate.log'))
    return open(path).read().split()
