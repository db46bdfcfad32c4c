"""tools/analysis/paper_tables.py: which runs it makes and the tables it writes."""
import argparse
import os.path as osp
import sys

from conftest import ROOT

sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis'))
import paper_tables  # noqa: E402


def test_requested_runs_pull_in_what_they_start_from():
    names = [n for n, _, _ in paper_tables.plan(['3dseg-t+distill'])]
    assert names == ['3dseg-t', 'teacher', '3dseg-t+distill']
    assert [n for n, _, _ in paper_tables.plan(['unet3d'])] == ['unet3d']
    configs = {n: c for n, c, _ in paper_tables.plan(paper_tables.ORDER)}
    assert all(osp.isfile(osp.join(ROOT, c)) for c in configs.values())


def test_tables_report_the_metrics_params_and_speed_ups_given():
    args = argparse.Namespace(data='data/synthrooms', out='o', seed=0, iters=None)
    m = lambda v: dict(mIoU=v, mAcc=v + 1, aAcc=v + 2, surface_mIoU=v - 1)  # noqa: E731
    results = {'3dseg-t': ('a', m(20.0)), 'unet3d': ('b', m(15.5)),
               '3dseg-t-noskip': ('c', m(18.25)), '3dseg-t+room': ('d', m(21.0)),
               'teacher': ('e', dict(mIoU=14.0)), '3dseg-t+distill': ('f', m(22.0))}
    timing = {'3dseg-t': (375036, 2.0), 'unet3d': (1403054, 5.0)}
    text = paper_tables.tables(args, results, timing, 6)
    assert '| 3dseg-t | 20.00 | 21.00 | 22.00 | 19.00 | 375,036 | 2.00 | 2.50x |' in text
    assert '| unet3d | 15.50 | 16.50 | 17.50 | 14.50 | 1,403,054 | 5.00 | 1.00x |' in text
    assert '| 3dseg-t-noskip | 18.25 |' in text and '| 3dseg-t+distill | 22.00 |' in text
    assert 'Panorama teacher (ViT-T, 2D test mIoU): 14.00' in text
