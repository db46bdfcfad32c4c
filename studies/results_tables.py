# Copyright (c) 3D Segmenter authors. All rights reserved.
"""The results tables of README.md and docs/results.md, generated from benchmarks/*.json.

    python studies/results_tables.py           # rewrite every table from the JSON records
    python studies/results_tables.py --check   # exit 1, naming the files, if one differs

A table sits between ``<!-- results:NAME -->`` and ``<!-- /results -->`` in a Markdown file
(NAME a key of :data:`TABLES`); everything outside the markers is left as it is. The docs
therefore never type a result by hand: a new record in ``benchmarks/`` and one run of this
script update every table that reads it, and the test suite fails while a committed table
differs from what the committed JSON gives.
"""
import argparse
import json
import os.path as osp
import posixpath
import re
import sys
from typing import Callable, Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from studies import scarcity  # noqa: E402
from studies.experiments import ROOT, STUDY_DATA, mean_std  # noqa: E402

#: the Markdown files that hold generated tables (relative to the repository root)
TARGETS = ('README.md', 'docs/results.md')

_BLOCK = re.compile(r'(<!-- results:([\w.+-]+) -->\n)(.*?)(<!-- /results -->)', re.S)
_OPEN = re.compile(r'<!-- results:')
# a Markdown link to a file of the repository (not a web address, an anchor or an absolute path)
_LINK = re.compile(r'\]\((?![a-z]+:|#|/)([^)\s]+)\)')

Loader = Callable[[str], dict]


def json_loader(root: str = ROOT) -> Loader:
    """Reads ``benchmarks/<name>`` of the repository at ``root``."""
    def load(name: str) -> dict:
        path = osp.join(root, 'benchmarks', name)
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path}: results record not found')
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    return load


def _cell(values) -> str:
    """``mean ± std`` of a list of seeds' numbers (a number alone for one), '—' if absent."""
    if values is None:
        return '—'
    return mean_std(values if isinstance(values, (list, tuple)) else [values])


def _count(values) -> str:
    """A whole number, or the per-seed numbers when the seeds differ (e.g. iterations)."""
    values = values if isinstance(values, (list, tuple)) else [values]
    distinct = sorted(set(values), key=values.index)
    return ', '.join(f'{v:,}' for v in (values if len(distinct) > 1 else distinct))


def _table(header: Sequence[str], rows: List[Sequence[str]], source: str,
           caption: Optional[str] = None) -> str:
    """A markdown table and its caption (by default: the record it is generated from)."""
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    lines += ['| ' + ' | '.join(row) + ' |' for row in rows]
    return '\n'.join(lines) + '\n\n' + (caption or f'Generated from `benchmarks/{source}`.') + '\n'


def _ordered(keys: Sequence[str], labels: Dict[str, str]) -> List[Tuple[str, str]]:
    """The rows named in ``labels`` (in its order) that the record holds, then the others."""
    known = [(k, label) for k, label in labels.items() if k in keys]
    return known + [(k, f'`{k}`') for k in keys if k not in labels]


_MODELS = {
    '3dseg-t': '3DSeg-T (`3dseg-t`)',
    '3dseg-b': '3DSeg-B (`3dseg-b`)',
    'unet3d-equal-iters': 'UNet3D, equal iterations (`unet3d-equal-iters`)',
    'unet3d': 'UNet3D, equal wall-clock (`unet3d`)',
    '3dseg-t-noskip': '3DSeg-T without the skip (`3dseg-t-noskip`)',
}


def _scores(entry: dict) -> List[str]:
    """The four scores of a run, each ``mean ± std`` over its seeds."""
    return [_cell(entry.get(m)) for m in ('mIoU', 'surface_mIoU', 'mAcc', 'aAcc')]


#: the table of record (studies/paper_tables.py --record) and where its distillation runs were
#: kept before they joined it: read when the table of record lacks a run
RECORD, EARLIER_DISTILL = 'paper_tables.json', 'paper_tables_distill.json'


def models_table(load: Loader, source: str = RECORD) -> str:
    """Block-trained models on the test rooms: mean ± std over the record's seeds. The
    comparison's learning-curve runs (those with a ``curve``: longer budgets, tested at the
    checkpoint validation chose), the distillation runs and the teacher (the runs with a
    panorama mIoU, ``3dseg-t`` aside) and the labelled-room choice have their own tables."""
    record = {k: v for k, v in load(source).items()
              if 'curve' not in v and k != scarcity.KEY and
              (k == '3dseg-t' or 'panorama_mIoU' not in v)}
    rows = [[label] + _scores(record[key]) +
            [str(len(record[key]['mIoU'])), _count(record[key]['iters']),
             _count(record[key]['params'])]
            for key, label in _ordered(list(record), _MODELS)]
    return _table(('run', 'test mIoU', 'surface mIoU', 'mAcc', 'aAcc', 'seeds', 'iterations',
                   'parameters'), rows, source)


def scarcity_table(load: Loader, source: str = RECORD) -> str:
    """The labelled-room counts tried on the validation rooms and the one chosen for the
    label-scarce runs (studies/scarcity.py)."""
    entry = load(source).get(scarcity.KEY)
    if entry is None:
        return ('No labelled-room count is chosen on the validation rooms yet '
                f'(`{scarcity.command(STUDY_DATA, 800)}`).\n')
    lines = scarcity.table(entry)
    return '\n'.join(lines) + (f"\n\nSeed {entry['seed']}, {entry['iters']} iterations, "
                               f'`{entry["config"]}`. Generated from `benchmarks/{source}`.\n')


_KD_ROWS = {
    'control': 'control (no KD)',
    'control-labelled': 'control-labelled (no KD, the labelled rooms only)',
    'oracle': 'oracle (label panoramas as the teacher)',
    'oracle-voxel': 'oracle-voxel (label panoramas as the teacher, voxel space)',
    'tau1': "tau1 (trained teacher, the paper's pixel-space term)",
    'tau1-voxel': "tau1-voxel (trained teacher, `kd_space='voxel'`)",
    'tau1-voxel+pano2d': 'tau1-voxel+pano2d (and panorama-only rooms)',
}


def kd_table(load: Loader, source: str) -> str:
    """A ``kd_study.py --report-test`` record: validation voxel mIoU (where the recipe was
    chosen) and the same checkpoints' test voxel and surface mIoU."""
    record = load(source)
    (setting, validation), = record['validation'].items()
    test = record.get('test', {})

    def test_cell(metric: str, key: str) -> str:
        return _cell(test.get(metric, {}).get(setting, {}).get(key))

    rows = [[label, str(len(validation[key])), _cell(validation[key]),
             test_cell('mIoU', key), test_cell('surface_mIoU', key)]
            for key, label in _ordered(list(validation), _KD_ROWS)]
    return _table(('run', 'seeds', 'validation mIoU', 'test mIoU', 'test surface mIoU'),
                  rows, source)


_RECIPES = {
    't-p2-1k': '3DSeg-T, patch 2 (`t-p2-1k`)',
    'unet-1k': 'UNet3D, base 16 (`unet-1k`)',
    't-p4-4k': '3DSeg-T, patch 4, one unshifted window (`t-p4-4k`)',
}


def recipe_table(load: Loader, source: str = 'recipe_study.json') -> str:
    """One seed of each recipe, tested on the validation rooms."""
    record = load(source)
    rows = [[label] + _scores(record[key]) +
            [_count(record[key]['iters']), _count(record[key]['params']),
             _cell(record[key].get('inference_seconds'))]
            for key, label in _ordered(list(record), _RECIPES)]
    return _table(('row', 'validation mIoU', 'surface mIoU', 'mAcc', 'aAcc', 'iterations',
                   'parameters', 'inference s, 24 rooms in 32^3 windows'), rows, source)


#: a summary row's record when it is a distillation run: the table of record, else the
#: record its runs were kept in before
DISTILL = (RECORD, EARLIER_DISTILL)
#: README's summary: (what, record, path to the voxel mIoU, path to the surface mIoU)
# (what, record, path in the record, the config the run trained). The configs are those the
# drivers ran (a test checks them against block_rows, distillation_rows and kd_study): the
# block rows at 800 iterations, the equal-wall-clock U-Net's 3k config at its measured
# iterations, and the distillation rows' tiles32-tau1 recipe.
_ROOM = 'configs/3dseg/3dseg-t_1xb1-120_synthrooms-room-tiles32.py'
_KD = 'configs/distill/panokd_logits-tau1_segmenter-vit-t_3dseg-t_1xb1-120_synthrooms-tiles32.py'
SUMMARY = (
    ('3DSeg-T, block training', 'paper_tables.json', ('3dseg-t',),
     'configs/3dseg/3dseg-t_1xb2-800_synthrooms-32.py'),
    ('3DSeg-B, block training', 'paper_tables.json', ('3dseg-b',),
     'configs/3dseg/3dseg-b_1xb2-800_synthrooms-32.py'),
    # its iterations are the seconds of 3DSeg-T's run turned into U-Net steps: the 3k config
    # with its decay stretched to them, or the 800-iteration config when they come to 800
    ('3D U-Net, equal wall-clock', 'paper_tables.json', ('unet3d',),
     ('configs/unet3d/unet3d_1xb2-3k_synthrooms-32.py',
      'configs/unet3d/unet3d_1xb2-800_synthrooms-32.py')),
    ('3DSeg-T without the skip connection', 'paper_tables.json', ('3dseg-t-noskip',),
     'configs/3dseg/3dseg-t-noskip_1xb2-800_synthrooms-32.py'),
    ('3DSeg-T + room fine-tuning, no teacher', DISTILL, ('3dseg-t+room',), _ROOM),
    ('3DSeg-T + distillation, one panorama a room', DISTILL, ('3dseg-t+distill',), _KD),
    ('3DSeg-T + distillation, 8 panoramas a room', DISTILL, ('3dseg-t+distill-multiview',),
     _KD.replace('.py', '-8views.py')),
    # the label-scarce rows of the table of record, their count from the record
    ('{rooms} labelled rooms: fine-tuning, no teacher', RECORD, ('3dseg-t+room-scarce',),
     _ROOM),
    ('{rooms} labelled rooms: distillation, one panorama a room', RECORD,
     ('3dseg-t+distill-scarce',), _KD),
    ('3 labelled rooms, KD study: distillation in voxel space', 'kd_study_scarce3.json',
     ('test', '{metric}', 'scarce', 'tau1-voxel'),
     'configs/distill/ablations/'
     'panokd_logits-tau1-voxel_segmenter-vit-t_3dseg-t_1xb1-120_synthrooms-tiles32.py'),
)


def _at(record: dict, path: Sequence[str], metric: str) -> Optional[list]:
    keys = [k.format(metric=metric) for k in path]
    if '{metric}' not in path:
        keys.append(metric)
    for key in keys:
        record = record.get(key) if isinstance(record, dict) else None
    return record


def summary_table(load: Loader) -> str:
    rows = []
    distill_runs = _distill().distill_runs(load, DISTILL)
    for what, source, path, config in SUMMARY:
        if source == DISTILL:  # the record that holds this distillation run
            source = distill_runs.get(path[0], (RECORD, None))[0]
        record = load(source)
        voxel = _at(record, path, 'mIoU')
        if '{rooms}' in what:  # the labelled rooms of the run, else of the record's choice
            run = record.get(path[0])
            what = what.format(rooms=_distill().labelled_rooms(run) if isinstance(run, dict)
                               else record.get('scarcity', {}).get('labelled_rooms', '?'))
        rows.append([what, _cell(voxel), _cell(_at(record, path, 'surface_mIoU')),
                     str(len(voxel or [])), f'[{source}](benchmarks/{source})',
                     ', '.join(f'[{osp.basename(c)}]({c})' for c in
                               ((config,) if isinstance(config, str) else config))])
    lines = ['| result (24 test rooms) | mIoU | surface mIoU | seeds | record | config |',
             '|---|---|---|---|---|---|'] + ['| ' + ' | '.join(row) + ' |' for row in rows]
    return '\n'.join(lines) + '\n'


def scanned_table(load: Loader, exact: str = 'paper_tables.json',
                  scanned: str = 'paper_tables_scan.json') -> str:
    """The same models, seeds and iterations on exact rooms and on scanned rooms (fused RGB-D
    frames: partial observation); the scanned record carries its rooms' ``scans`` summary."""
    a, b = load(exact), load(scanned)
    rows = []
    for key, label in _ordered([k for k in b if k in a and k != 'scans'], _MODELS):
        deltas = [y - x for x, y in zip(a[key]['mIoU'], b[key]['mIoU'])]
        rows.append([label, _cell(a[key]['mIoU']), _cell(b[key]['mIoU']), _cell(deltas),
                     _cell(a[key]['surface_mIoU']), _cell(b[key]['surface_mIoU']),
                     str(len(b[key]['mIoU'])), _count(b[key]['iters'])])
    scans = b.get('scans', {})
    text = _table(['model', 'exact rooms mIoU', 'scanned rooms mIoU', 'change (paired by seed)',
                   'exact surface mIoU', 'scanned surface mIoU', 'seeds', 'iterations'],
                  rows, f'{exact}` and `{scanned}')
    if scans:
        text += (f"\nScanned rooms: {scans['frames']} frames each; "
                 f"{100 * scans['mean_unobserved']:.1f} % of voxels "
                 f"({100 * scans['mean_unobserved_surface']:.1f} % of the surface band) never "
                 f"observed, on average over {scans['rooms']} rooms.\n")
    return text


def tuning_table(load: Loader, source: str = 'baselines.json') -> str:
    """Every recipe trial of the comparison on the validation rooms, the best per model in
    bold: the same number of trials and training seconds for every model."""
    tuning = load(source).get('tuning', {})
    rows = []
    for model, entry in tuning.items():
        for name, trial in entry['trials'].items():
            best = name == entry.get('best')
            rows.append([f'`{model}`', f'**`{name}`**' if best else f'`{name}`',
                         _cell(trial.get('mIoU')), _cell(trial.get('surface_mIoU')),
                         _count(entry['iters']), f"{entry['step_seconds']:g}" +
                         (' (estimated)' if entry.get('estimated') else '')])
    return _table(('model', 'trial', 'validation mIoU', 'surface mIoU', 'iterations',
                   's / step (idle)'), rows, source)


def _distill():
    from studies import distill_tables
    return distill_tables


def _comparison():
    from studies import comparison_tables
    return comparison_tables


#: every generated table: its name in the markers -> its text from a record loader
TABLES: Dict[str, Callable[[Loader], str]] = {
    'summary': summary_table,
    'paper_tables': models_table,
    'scarcity': scarcity_table,
    'paper_tables_distill': lambda load: _distill().distill_table(load, DISTILL),
    'paper_tables_distill_gains': lambda load: _distill().gains_table(load, RECORD),
    'paper_tables_distill_sure90':
        lambda load: _distill().distill_table(load, ['paper_tables_distill_sure90.json']),
    'kd_study_scarce3': lambda load: kd_table(load, 'kd_study_scarce3.json'),
    'kd_study_labelled': lambda load: kd_table(load, 'kd_study_labelled.json'),
    'recipe_study': recipe_table,
    'paper_tables_scan': scanned_table,
    'baselines': tuning_table,
    # the comparison's own module (it reads this one's helpers)
    'baselines_curves': lambda load: _comparison().curves_table(load),
    'baselines_lead': lambda load: _comparison().lead_table(load),
    'baselines_convergence': lambda load: _comparison().convergence_table(load),
    'baselines_lead_x4': lambda load: _comparison().lead_table(load, scale=4),
    'baselines_lead_x8': lambda load: _comparison().lead_table(load, scale=8),
}


def render(name: str, root: str = ROOT) -> str:
    """The table ``name`` from the records of the repository at ``root``."""
    return TABLES[name](json_loader(root))


def relink(table: str, where: str) -> str:
    """``table``'s links, written from the repository root, made relative to the folder of
    the file ``where`` (a path from the root) that holds it: a table placed in README.md and in
    docs/results.md links the same files from each."""
    folder = posixpath.dirname(where)
    if not folder:
        return table
    return _LINK.sub(lambda m: '](' + posixpath.relpath(m.group(1), folder) + ')', table)


def fill(text: str, load: Loader, where: str = '<text>') -> str:
    """``text`` with every marked table replaced by the one generated from the records
    (``where``: the file's path from the repository root, which the tables' links are made
    relative to)."""
    if len(_OPEN.findall(text)) != len(_BLOCK.findall(text)):
        raise ValueError(f'{where}: a "<!-- results:NAME -->" marker has no '
                         '"<!-- /results -->" after it')

    def table(match: 're.Match') -> str:
        name = match.group(2)
        if name not in TABLES:
            raise ValueError(f'{where}: unknown results table {name!r} '
                             f'(known: {", ".join(TABLES)})')
        return match.group(1) + relink(TABLES[name](load), where) + match.group(4)

    return _BLOCK.sub(table, text)


def generate(root: str = ROOT) -> Dict[str, Tuple[str, str]]:
    """For each file of :data:`TARGETS`: (its text now, its text with the tables generated)."""
    load = json_loader(root)
    out = {}
    for rel in TARGETS:
        path = osp.join(root, rel)
        with open(path, encoding='utf-8') as f:
            text = f.read()
        out[rel] = (text, fill(text, load, rel))
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--check', action='store_true',
                        help='only compare; exit 1 if a committed table differs')
    args = parser.parse_args(argv)
    changed = {rel: new for rel, (old, new) in generate(ROOT).items() if old != new}
    if args.check:
        for rel in changed:
            print(f'{rel}: results tables differ from benchmarks/*.json '
                  '(run python studies/results_tables.py)')
        return 1 if changed else 0
    for rel, new in changed.items():
        with open(osp.join(ROOT, rel), 'w', encoding='utf-8') as f:
            f.write(new)
    print('updated: ' + (', '.join(changed) or 'nothing'))
    return 0


if __name__ == '__main__':
    sys.exit(main())
