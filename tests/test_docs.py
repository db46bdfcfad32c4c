"""docs/robustness.md: every test its table cites exists, so the table cannot drift."""
import os.path as osp
import re

from conftest import ROOT


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
