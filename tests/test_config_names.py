"""Config names: every config is named the OpenMMLab way, and the only short names are the
one-line aliases the README lists, each pointing to the config beside it that it shortens."""
import ast
import glob
import os.path as osp
import re
from typing import Optional

import pytest

from conftest import CONFIGS, ROOT

FIELD = r'[a-z0-9]+(?:-[a-z0-9]+)*'  # one '_'-separated field: words joined by '-'
DATA = r'(?P<data>[a-z0-9]+(?:\+[a-z0-9]+)*)'  # 'synthrooms', 'synthrooms+pano2d'
# <model>_<gpus>xb<batch>-<schedule>_<data>[-<size or setting>...].py, where <model> is one field
# or more: '3dseg-t', 'segmenter_vit-b_mask', 'panokd_logits-tau1_segmenter-vit-t_3dseg-t'
FULL_NAME = re.compile(
    rf'^(?P<model>{FIELD}(?:_{FIELD})*)_\d+xb\d+-\d+k?_{DATA}(?:-[a-z0-9]+)*\.py$')
# the short name: the full name's model fields (some may go) and its data, no schedule or size
ALIAS_NAME = re.compile(rf'^(?P<model>{FIELD}(?:_{FIELD})*)_{DATA}\.py$')
# the first word of every name in a folder: the algorithm the folder holds
ALGORITHM = {'3dseg': '3dseg', 'teacher': 'segmenter', 'distill': 'panokd', 'unet3d': 'unet3d',
             'sparseunet': 'sparseunet', 'swinunetr': 'swinunetr'}
# configs that may keep a name off the pattern, with the reason (none today)
EXCEPTIONS: dict = {}

CONFIG_FILES = sorted(osp.relpath(p, CONFIGS)
                      for p in glob.glob(f'{CONFIGS}/**/*.py', recursive=True)
                      if not osp.relpath(p, CONFIGS).startswith('_base_'))


def alias_target(path: str) -> Optional[str]:
    """The one base of an alias config (its only statement is ``_base_ = ['<one file>']``, not
    a file of ``_base_/``), or None for a config that composes or sets anything."""
    tree = ast.parse(open(path, encoding='utf-8').read())
    body = [n for n in tree.body
            if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
    if len(body) != 1 or not isinstance(body[0], ast.Assign):
        return None
    (target,), value = body[0].targets, body[0].value
    if not (isinstance(target, ast.Name) and target.id == '_base_'
            and isinstance(value, ast.List) and len(value.elts) == 1):
        return None
    base = ast.literal_eval(value.elts[0])
    return None if '_base_/' in base else base


def alias_fits(alias: str, full: str) -> bool:
    """Whether ``alias`` shortens ``full``: the same data, and model fields spelled as the full
    name spells them, in its order (fields may be left out, none added or respelled)."""
    short, long = ALIAS_NAME.match(alias), FULL_NAME.match(full)
    if short is None or long is None or FULL_NAME.match(alias) or short['data'] != long['data']:
        return False
    fields = iter(long['model'].split('_'))
    return all(field in fields for field in short['model'].split('_'))  # a subsequence


ALIASES = {rel: base for rel in CONFIG_FILES
           if (base := alias_target(osp.join(CONFIGS, rel))) is not None}


@pytest.mark.parametrize('alias, full, fits', [
    ('3dseg-l_panorooms.py', '3dseg-l_8xb1-80k_panorooms-128.py', True),
    ('panokd_segmenter-vit-t_3dseg-t_synthrooms.py',
     'panokd_logits_segmenter-vit-t_3dseg-t_1xb1-120_synthrooms.py', True),
    # a teacher respelled, or spelled as its own folder spells it, is a second spelling
    ('panokd_segmenter-t_3dseg-t_synthrooms.py',
     'panokd_logits_segmenter-vit-t_3dseg-t_1xb1-120_synthrooms.py', False),
    ('panokd_segmenter_vit-t_3dseg-t_synthrooms.py',
     'panokd_logits_segmenter-vit-t_3dseg-t_1xb1-120_synthrooms.py', False),
    ('3dseg-l_scannet.py', '3dseg-l_8xb1-80k_panorooms-128.py', False),  # other data
    ('3dseg-t_3dseg-l_panorooms.py', '3dseg-l_8xb1-80k_panorooms-128.py', False),  # a field added
    ('3dseg-l_8xb1-80k_panorooms-128.py', '3dseg-l_8xb1-80k_panorooms-128.py', False),
])
def test_the_name_checker_knows_a_short_name_from_a_respelling(alias, full, fits):
    assert alias_fits(alias, full) is fits


def test_the_name_pattern():
    for good in ('3dseg-t-noskip_1xb2-3k_synthrooms-32.py', 'unet3d_8xb1-80k_panorooms-128.py',
                 'segmenter_vit-t_mask_1xb4-4k_synthrooms+pano2d-128x256.py',
                 'panokd_logits-tau1_segmenter-vit-t_3dseg-t_1xb1-120_synthrooms-tiles32-8views.py',
                 'panokd_logits_segmenter-vit-b_3dseg-l_8xb1-45k_panorooms.py'):
        assert FULL_NAME.match(good), good
    for bad in ('3dseg-t_synthrooms.py', '3dseg_t_3k_synthrooms-32.py',
                '3dseg-t_1xb2_synthrooms.py', '3DSeg-T_1xb2-3k_synthrooms-32.py',
                '3dseg-t_1xb2-3k_synthrooms_32.py'):
        assert not FULL_NAME.match(bad), bad
    assert FULL_NAME.match('3dseg-t_1xb2-3k_synthrooms-32.py')['data'] == 'synthrooms'


def test_the_alias_finder(tmp_path):
    cases = {"_base_ = ['./x_1xb1-1k_d-32.py']\n": './x_1xb1-1k_d-32.py',
             "# a comment\n_base_ = ['./x_1xb1-1k_d-32.py']  # why\n": './x_1xb1-1k_d-32.py',
             "_base_ = ['./x_1xb1-1k_d-32.py']\nmodel = dict(a=1)\n": None,
             "_base_ = ['../_base_/models/x.py']\n": None,
             "_base_ = ['./a.py', './b.py']\n": None}
    for text, expected in cases.items():
        (tmp_path / 'c.py').write_text(text)
        assert alias_target(str(tmp_path / 'c.py')) == expected, text


def test_every_config_but_the_aliases_has_an_openmmlab_name():
    wrong = []
    for rel in CONFIG_FILES:
        name, folder = osp.basename(rel), rel.split(osp.sep)[0]
        if rel in ALIASES or rel in EXCEPTIONS:
            continue
        match = FULL_NAME.match(name)
        if match is None or match['model'].split('_')[0].split('-')[0] != ALGORITHM.get(folder):
            wrong.append(rel)
    assert not wrong, f'not <model>_<gpus>xb<batch>-<schedule>_<data>-<size>.py: {wrong}'
    assert all(rel in CONFIG_FILES and not FULL_NAME.match(osp.basename(rel))
               for rel in EXCEPTIONS), 'an exception that is gone or needs none'


def test_every_alias_shortens_the_config_beside_it_and_the_readme_lists_it():
    readme = open(osp.join(ROOT, 'README.md'), encoding='utf-8').read().splitlines()
    assert len(ALIASES) >= 8, sorted(ALIASES)
    for rel, base in ALIASES.items():
        assert base.startswith('./') and '/' not in base[2:], f'{rel}: {base} is not beside it'
        target = osp.join(osp.dirname(rel), base[2:])
        assert osp.isfile(osp.join(CONFIGS, target)), f'{rel}: {target} does not exist'
        assert target not in ALIASES, f'{rel}: {target} is an alias itself'
        assert alias_fits(osp.basename(rel), osp.basename(target)), f'{rel} for {target}'
        # the README names each short name on a line that says which config it runs
        lines = [line for line in readme if f'`configs/{rel}`' in line]
        assert lines, f'README.md does not list configs/{rel}'
        assert any(f'`{osp.basename(target)}`' in line for line in lines), rel
    targets = [osp.join(osp.dirname(rel), base) for rel, base in ALIASES.items()]
    assert len(set(targets)) == len(targets), f'two short names for one config: {ALIASES}'
