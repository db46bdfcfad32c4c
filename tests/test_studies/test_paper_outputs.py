"""studies/paper_outputs.py: the tables written and the table of record kept."""
import argparse
import json

from studies import paper_outputs
from studies.experiments import mean_std


def test_tables_give_mean_and_std_over_seeds():
    args = argparse.Namespace(data='data/x', out='o', seeds=[0, 1, 2])
    results = {'3dseg-t': dict(mIoU=[40.0, 42.0, 44.0], surface_mIoU=[30.0, 30.0, 30.0],
                               mAcc=[1.0, 1.0, 1.0], aAcc=[2.0, 2.0, 2.0],
                               iters=[3000, 3000, 3000], train_seconds=[100.0, 110.0, 120.0],
                               params=375036, inference_seconds=1.5)}
    text = paper_outputs.tables(args, results, 24)
    assert '24 test rooms, seeds 0 1 2' in text
    assert ('| 3dseg-t | 42.00 ± 2.00 | 30.00 ± 0.00 | 1.00 ± 0.00 | 2.00 ± 0.00 | 3000 | '
            '110.00 ± 10.00 | 375,036 | 1.50 |') in text
    assert mean_std([5.0]) == '5.00' and mean_std([]) == '-'


def test_recording_keeps_the_runs_other_studies_added(tmp_path):
    path = str(tmp_path / 'paper_tables.json')
    with open(path, 'w') as f:
        json.dump({'3dseg-t': dict(mIoU=[1.0]), 'sparse-unet': dict(mIoU=[2.0])}, f)
    paper_outputs.record_runs({'3dseg-t': dict(mIoU=[3.0]), 'unet3d': dict(mIoU=[4.0])}, path)
    assert json.load(open(path)) == {'3dseg-t': dict(mIoU=[3.0]), 'sparse-unet': dict(mIoU=[2.0]),
                                     'unet3d': dict(mIoU=[4.0])}
