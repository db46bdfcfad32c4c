"""The package's layers import one way: geometry at the bottom, then data and models, then
what ties them (evaluation, the generator, the engine), then the user-facing APIs."""
import ast
import os
import os.path as osp
import subprocess
import sys

import pytest

from conftest import ROOT

PACKAGE = osp.join(ROOT, 'projects', 'segmenter3d')
# modules every layer may use: plain helpers that import nothing else of ours
BASE = {'version', 'utils', 'encoding', 'fileio', 'taxonomy', 'structures', 'checkpoint_io',
        'checkpoint_schema'}
# what each subpackage may import besides BASE
ALLOWED = {
    'rendering': set(),  # pure geometry
    'testing': set(),  # the independent reference network the equivalence tests compare with
    'datasets': {'rendering'},
    'models': {'rendering'},  # never datasets/ or synthrooms/
    'visualization': {'rendering'},
    'evaluation': {'rendering', 'datasets'},  # never models/
    'synthrooms': {'rendering', 'datasets'},
    'engine': {'rendering', 'datasets', 'models', 'visualization'},
    'apis': {'rendering', 'datasets', 'models', 'visualization'},  # pictures with a legend
}
SUBPACKAGES = sorted(ALLOWED)


def _imports_of(path: str, package: list) -> set:
    """Top-level names of ``segmenter3d`` that the module at ``path`` imports."""
    found = set()
    for node in ast.walk(ast.parse(open(path, encoding='utf-8').read())):
        if isinstance(node, ast.ImportFrom) and node.level:
            parts = package[:len(package) - node.level + 1] + (node.module or '').split('.')
            parts = [p for p in parts if p]
            found.update([parts[0]] if parts else [a.name for a in node.names])
        elif isinstance(node, ast.ImportFrom) and (node.module or '').startswith('segmenter3d'):
            parts = node.module.split('.')
            found.update(parts[1:2] if len(parts) > 1 else [a.name for a in node.names])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith('segmenter3d.'):
                    found.add(alias.name.split('.')[1])
    return found


def test_every_subpackage_imports_only_its_lower_layers():
    problems = []
    for folder, _, files in os.walk(PACKAGE):
        package = osp.relpath(folder, PACKAGE).split(os.sep)
        package = [] if package == ['.'] else package
        for name in files:
            if not name.endswith('.py') or not package:
                continue
            top, path = package[0], osp.join(folder, name)
            allowed = set() if top in BASE else ALLOWED.get(top)
            assert allowed is not None, f'{top}: a new subpackage needs its row in ALLOWED'
            for used in _imports_of(path, package) - {top}:
                if used not in BASE | allowed:
                    problems.append(f'{osp.relpath(path, PACKAGE)} imports {used}')
    for name in BASE:  # the helpers import no subpackage
        path = osp.join(PACKAGE, f'{name}.py')
        if osp.isfile(path):
            problems += [f'{name}.py imports {u}' for u in _imports_of(path, []) - BASE - {name}]
    assert not problems, problems


def test_the_layer_checker_sees_a_violation(tmp_path):
    bad = tmp_path / 'x.py'
    bad.write_text('from ...datasets import load_room\nfrom segmenter3d.synthrooms import Room\n')
    assert _imports_of(str(bad), ['models', 'segmentors']) == {'datasets', 'synthrooms'}


@pytest.mark.slow
def test_each_subpackage_imports_first_in_a_fresh_interpreter():
    """No import circle that only a particular import order hides: one fresh interpreter per
    subpackage, all started at once (an import is one core's work, so they share the cores)."""
    env = dict(os.environ, OMP_NUM_THREADS='1')
    procs = {name: subprocess.Popen([sys.executable, '-c', f'import segmenter3d.{name}'],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    text=True, env=env) for name in SUBPACKAGES}
    errors = {name: proc.communicate()[1] for name, proc in procs.items()}
    failed = {name: errors[name][-2000:] for name, proc in procs.items() if proc.returncode}
    assert not failed, failed
    assert len(procs) == len(SUBPACKAGES) >= 8


def test_no_function_is_longer_than_80_lines():
    """Long functions hide their stages: the package, the tools, the study drivers and the
    benchmarks keep each function under 80 lines."""
    long = []
    for top in ('projects', 'tools', 'studies', 'benchmarks'):
        for folder, _, files in os.walk(osp.join(ROOT, top)):
            for name in (f for f in files if f.endswith('.py')):
                path = osp.join(folder, name)
                for node in ast.walk(ast.parse(open(path, encoding='utf-8').read())):
                    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
                            node.end_lineno - node.lineno + 1 > 80):
                        long.append(f'{osp.relpath(path, ROOT)}::{node.name}')
    assert not long, long
