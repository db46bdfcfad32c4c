"""studies/distillation_rows.py: the rows' configs, their plan and their table."""
import argparse
import os.path as osp

from conftest import ROOT
from studies import distillation_rows


def test_distillation_configs_exist_and_the_table_marks_what_does_not_apply():
    assert all(osp.isfile(osp.join(ROOT, c)) for c in distillation_rows.DISTILL_CONFIGS.values())
    assert osp.isfile(osp.join(ROOT, distillation_rows.TEACHER))
    results = {'3dseg-t': dict(mIoU=[40.0, 42.0], surface_mIoU=[30.0, 32.0],
                               panorama_mIoU=[50.0, 52.0]),
               '3dseg-t+distill-multiview': dict(mIoU=[41.0, 41.0], surface_mIoU=[31.0, 31.0],
                                                 panorama_mIoU=[51.0, 53.0],
                                                 surface_coverage=71.25),
               'teacher': dict(panorama_mIoU=[33.5])}
    lines = distillation_rows.distillation_table(results)
    assert '| 3dseg-t | 41.00 ± 1.41 | 31.00 ± 1.41 | 51.00 ± 1.41 | — |' in lines
    assert '| 3dseg-t+distill-multiview | 41.00 ± 0.00 | 31.00 ± 0.00 | 52.00 ± 1.41 | 71.2 |' \
        in lines
    assert '| teacher | — | — | 33.50 | — |' in lines
    assert not any(line.startswith('Label-scarce') for line in lines)
    results['3dseg-t-scarce'] = dict(mIoU=[30.0], surface_mIoU=[28.0], panorama_mIoU=[29.0],
                                     labelled_rooms=3)
    assert distillation_rows.distillation_table(results)[-1] == \
        'Label-scarce rows: 3 labelled rooms.'


def test_room_options_reach_every_room_fine_tuning_and_kd_options_only_the_distilled():
    args = argparse.Namespace(data='rooms', labelled_rooms=12, iters=800,
                              teacher_config=distillation_rows.TEACHER)
    plan = distillation_rows.distillation_plan(args, 1, 't.pth', ['model.distill_loss.tau=4.0'],
                                          ['model.train_cfg.mode=tiles'])
    names = [name for name, *_ in plan]
    assert names == ['3dseg-t-scarce', '3dseg-t+room', '3dseg-t+distill', '3dseg-t+room-scarce',
                     '3dseg-t+distill-scarce', '3dseg-t+distill-multiview']
    for name, options, *base in plan:
        assert 'randomness.seed=1' in options
        block = name == '3dseg-t-scarce'  # block training: no room option, no start
        assert ('model.train_cfg.mode=tiles' in options) is not block, name
        assert ('model.distill_loss.tau=4.0' in options) is ('distill' in name), name
        assert base == ([] if block else ['3dseg-t-scarce' if 'scarce' in name else '3dseg-t'])
        # the control and its distilled run differ only in the KD term
        if '+distill' in name and 'multiview' not in name:
            control = dict((n, o) for n, o, *_ in plan)[name.replace('distill', 'room')]
            assert set(options) - set(control) == {
                'model.teacher_checkpoint=t.pth', 'model.distill_loss.tau=4.0',
                f'model.teacher_config={distillation_rows.TEACHER}'}
