"""The documents: every test docs/robustness.md cites exists, every relative link and anchor
resolves, every contents list lists its document's sections, so none of them can drift."""
import glob
import os.path as osp
import re
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, osp.join(ROOT, 'benchmarks'))
from measure import contents_lines, headings  # noqa: E402

DOCUMENTS = sorted([osp.join(ROOT, 'README.md'), osp.join(ROOT, 'benchmarks', 'RESULTS.md')] +
                   glob.glob(osp.join(ROOT, 'docs', '*.md')))
# [text](target), [text](<target>), [text](target "title"), and reference definitions
# "[name]: target" (images' sources too; web addresses are skipped where they are checked)
_LINK = re.compile(r'\[[^\]]*\]\((?:<([^>]+)>|([^)\s]+))(?:\s+"[^"]*")?\)|^\[[^\]]+\]:\s*(\S+)',
                   re.M)


def _prose(path: str) -> str:
    """The document without its fenced code blocks (links there are code, not links)."""
    text = open(path, encoding='utf-8').read()
    return re.sub(r'^```.*?^```', '', text, flags=re.S | re.M)


def _targets(text: str) -> list:
    return [next(group for group in groups if group) for groups in _LINK.findall(text)]


def test_every_form_of_link_is_found():
    text = ('[a](x.md "t") [b](<y z.md>) ![c](p.png) [d](#e) [f](https://g)\n'
            '[h]: ref.md\nnot [a link] here\n')
    assert _targets(text) == ['x.md', 'y z.md', 'p.png', '#e', 'https://g', 'ref.md']


@pytest.mark.parametrize('path', DOCUMENTS, ids=lambda p: osp.relpath(p, ROOT))
def test_every_relative_link_and_anchor_resolves(path):
    broken = []
    for target in _targets(_prose(path)):
        if re.match(r'[a-z]+:', target):
            continue
        file, _, name = target.partition('#')
        dest = osp.normpath(osp.join(osp.dirname(path), file)) if file else path
        if not osp.exists(dest):
            broken.append(target)
        elif name and dest.endswith('.md'):
            text = open(dest, encoding='utf-8').read()
            if name not in [a for _, _, a in headings(text)]:
                broken.append(target)
    assert not broken, f'{osp.relpath(path, ROOT)}: links to nothing: {broken}'


@pytest.mark.parametrize('path', DOCUMENTS, ids=lambda p: osp.relpath(p, ROOT))
def test_a_contents_list_lists_every_section(path):
    text = open(path, encoding='utf-8').read()
    lines = text.split('\n')
    listed = {lines[i].rsplit('(#', 1)[1][:-1] for i in contents_lines(text)}
    sections = {name for level, _, name in headings(text) if level == 2}
    assert not listed or not sections - listed, (
        f'{osp.relpath(path, ROOT)}: sections missing from its contents: '
        f'{sorted(sections - listed)}')


def test_every_test_the_robustness_table_cites_exists():
    text = open(osp.join(ROOT, 'docs', 'robustness.md'), encoding='utf-8').read()
    rows = [line for line in text.splitlines() if line.startswith('| ') and '::' in line]
    current, cited = None, 0
    for row in rows:
        for ref in re.findall(r'`([^`]*::[^`]*)`', row.split('|')[-2]):
            path, name = ref.split('::')
            if not path.startswith('…'):  # '…::name' is in the file cited last
                current = path
            source = open(osp.join(ROOT, 'tests', current), encoding='utf-8').read()
            assert re.search(rf'^def {re.escape(name)}\(', source, re.M), f'{current}::{name}'
            cited += 1
    body = [line for line in text.splitlines()
            if line.startswith('| ') and not line.startswith('| bad input')]
    # every row is backed: it cites a test, or the one above it ("same")
    assert all('::' in row or row.split('|')[-2].strip() == 'same' for row in body)
    assert body and cited >= 1  # a table that lost its rows does not pass for want of any
