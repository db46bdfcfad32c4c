"""studies/comparison_tables.py: the comparison's tables computed right from a record."""
from studies import comparison_tables, results_tables
from studies.learning_curves import CURVE_CONFIGS

UNET = 'configs/unet3d/ablations/unet3d-base16-gn_lr9e-3_1xb2-7104_synthrooms-32.py'
OURS = 'configs/3dseg/ablations/3dseg-t-p2_lr2e-3_1xb2-6400_synthrooms-32.py'


def _record():
    def row(seeds, miou, to_target, final=(30.0,), gain=(0.2,)):
        n = len(seeds)
        points = [None if s is None else round(s / 129.6) for s in to_target]
        return dict(seeds=seeds, mIoU=miou, surface_mIoU=[m - 2 for m in miou],
                    seconds_to_target=to_target, points_to_target=points,
                    final_val=list(final) * n,
                    gain_last_quarter=list(gain) * n, target=28.5)

    def runs(seeds, iters):
        return {str(s): dict(iters=iters, budget_seconds=1036.8) for s in seeds}

    return {
        'params': {'3dseg-t': 364284, 'unet3d': 1403054, 'sparseunet': 5435774},
        'curves': {'3dseg-t': runs([0, 1, 2], 6400), 'unet3d': runs([0, 1, 2], 7101),
                   'sparseunet': runs([0, 1], 1920)},
        'curve_summary': {
            '3dseg-t': row([0, 1, 2], [40.0, 42.0, 41.0], [388.8, 518.4, 388.8]),
            'unet3d': row([0, 1, 2], [35.0, 43.0, 36.0], [None, 388.5, 907.2]),
            'sparseunet': row([0, 1], [30.0, 31.0], [None, None]),
        }}


def test_lead_table_known_answer():
    text = comparison_tables.lead_table(lambda name: _record())
    lines = {line.split(' | ')[0].strip('| '): line.split(' | ') for line in text.splitlines()
             if line.startswith('| ') and 'baseline' not in line}
    unet, sparse = lines['UNet3D'], lines['SparseUNet3D']
    # leads 5, -1, 5 (paired by seed): mean 3.00, sample std 3.46
    assert unet[1] == '3' and unet[2] == '3.00 ± 3.46' and unet[3] == 'mixed over seeds'
    # seed 1: the U-Net gets there first (its 3rd validation against 3DSeg-T's 4th)
    assert unet[4] == '432.00 ± 74.82 vs 647.85 ± 366.78 (2/3 seeds)'
    assert unet[5] == 'mixed over seeds'
    # paired on the seeds both have; a baseline that never reaches the target is slower
    assert sparse[1] == '2' and sparse[2] == '10.50 ± 0.71' and sparse[3] == 'holds'
    assert sparse[4] == '453.60 ± 91.64 vs not reached'
    assert sparse[5] == 'holds'
    # each baseline's row links its curve config; the caption links 3DSeg-T's
    assert unet[6] == f'[{UNET.split("/")[-1]}]({UNET}) |' and CURVE_CONFIGS['unet3d'] == UNET
    assert sparse[6] == '[{0}]({1}) |'.format(
        CURVE_CONFIGS['sparseunet'].split('/')[-1], CURVE_CONFIGS['sparseunet'])
    assert text.endswith("; 3DSeg-T's config: "
                         f'[{OURS.split("/")[-1]}]({OURS}).\n')


def test_lead_is_compared_in_validation_points_and_ties_are_ties():
    record = _record()
    # the same validation point, at seconds that differ by the rounding of the step counts
    record['curve_summary']['unet3d'].update(mIoU=[40.0, 42.0, 41.0],
                                             seconds_to_target=[388.5, 518.0, 388.5],
                                             points_to_target=[3, 4, 3])
    text = comparison_tables.lead_table(lambda name: record)
    row = next(line for line in text.splitlines() if line.startswith('| UNet3D'))
    assert row.split(' | ')[3] == 'tie' and row.split(' | ')[5] == 'tie'


def test_curves_table_lists_every_model_with_its_budget():
    text = comparison_tables.curves_table(lambda name: _record())
    assert '| s to 28.5 validation mIoU |' in text
    assert '| SparseUNet3D | 5,435,774 | 1,920 | 1036.8 | 2 |' in text
    assert 'not reached' in text
    unet = next(line for line in text.splitlines() if line.startswith('| UNet3D |'))
    assert unet.endswith(f'| 647.85 ± 366.78 (2/3 seeds) | [{UNET.split("/")[-1]}]({UNET}) |')
    # from docs/results.md the same link climbs out of docs/
    relinked = results_tables.relink(text, 'docs/results.md')
    assert f'](../{UNET})' in relinked and f']({UNET})' not in relinked
    assert results_tables.relink(text, 'README.md') == text
    assert comparison_tables.curves_table(lambda name: {}).startswith('No learning-curve')


def test_lead_table_without_a_baseline_says_so():
    record = _record()
    record['curve_summary'] = {'3dseg-t': record['curve_summary']['3dseg-t']}
    text = comparison_tables.lead_table(lambda name: record)
    assert text == ('No baseline has a finished learning-curve run yet (3DSeg-T has 3 of its '
                    'seeds).\n')


def _longer(finals, model='3dseg-t', iters=800, step=0.162):
    """``curves-x4`` and ``curve_summary-x4`` of ``model``: one run per seed, 8 validations
    with the given sixth-eighth and final values (``finals``: seed -> (sixth, final))."""
    from studies.learning_curves import convergence, summary
    runs = {str(s): dict(iters=iters, budget_seconds=round(iters * step, 1), mIoU=final,
                         surface_mIoU=final, curve=[
                             [round(it * step, 1), it, v] for it, v in zip(
                                 range(iters // 8, iters + 1, iters // 8),
                                 [10, 11, 12, 13, 14, sixth, sixth, final])])
            for s, (sixth, final) in finals.items()}
    row = dict(summary({model: runs})[model], **convergence(runs))
    return {'curves-x4': {model: runs}, 'curve_summary-x4': {model: row}}


def test_mean_curve_gain_is_judged_as_it_is_printed():
    # each seed gains 0.50 (not converged); the mean curve goes 15.56 -> 16.06, whose float
    # difference is 0.4999...: it must not read "+0.50 (below 0.5)"
    record = _longer({0: (15.5, 16.0), 1: (15.62, 16.12)})
    assert record['curve_summary-x4']['3dseg-t']['gain_last_quarter'] == [0.5, 0.5]
    row = next(line for line in comparison_tables.convergence_table(
        lambda name: record).splitlines() if line.startswith('| 3DSeg-T'))
    cells = row.split(' | ')
    assert cells[5].endswith('15.56, 15.56, 16.06') and cells[7] == '+0.50, +0.50'
    assert cells[8] == '+0.50 ± 0.00 (at 0.5)' and cells[9] == 'no'


def test_lead_table_at_a_longer_budget_names_the_run_not_the_comparisons_config():
    # the curve configs are the comparison's runs (7104 iterations for the U-Net); the 4x rows
    # were run with 4x the iterations, which the link alone does not say
    from studies.baseline_study import curve_iters
    record = {'curve_summary-x4': {m: r for m, r in _record()['curve_summary'].items()
                                   if m != 'sparseunet'}}
    text = comparison_tables.lead_table(lambda name: record, scale=4)
    unet = next(line for line in text.splitlines() if line.startswith('| UNet3D'))
    assert curve_iters('unet3d', 4) == 28416 and curve_iters('3dseg-t', 4) == 25600
    assert unet.split(' | ')[6] == (f'[{UNET.split("/")[-1]}]({UNET}) run at 4x its '
                                    'iterations (28,416: `curves --scale 4`) |')
    assert text.endswith(f"; 3DSeg-T's config: [{OURS.split('/')[-1]}]({OURS}) run at 4x its "
                         'iterations (25,600: `curves --scale 4`).\n')
    # the comparison's own table links the configs as they are
    assert 'run at' not in comparison_tables.lead_table(lambda name: _record())


def test_lead_table_states_its_target():
    # the longer runs have their own target, printed in no other table
    record = _record()
    record['curve_summary-x4'] = record.pop('curve_summary')
    for summary in record['curve_summary-x4'].values():
        summary['target'] = 78.07
    header = comparison_tables.lead_table(lambda name: record, scale=4).splitlines()[0]
    assert '| s to 78.07 validation mIoU: 3DSeg-T vs baseline |' in header
    header = comparison_tables.lead_table(lambda name: _record()).splitlines()[0]
    assert '| s to 28.5 validation mIoU: 3DSeg-T vs baseline |' in header


def test_mean_curve_is_left_out_when_the_seeds_runs_differ_from_the_summarys():
    # seed 1's run was made at half the iterations: averaging over the iterations both
    # validated would print the first half of seed 0's run as the mean and gain over 300-400
    record = _longer({0: (15.0, 20.0), 1: (15.0, 16.0)})
    short = _longer({1: (15.0, 16.0)}, iters=400)['curves-x4']['3dseg-t']['1']
    record['curves-x4']['3dseg-t']['1'] = short
    row = next(line for line in comparison_tables.convergence_table(
        lambda name: record).splitlines() if line.startswith('| 3DSeg-T'))
    # the summary's own gain stays (seeds gain 5 and 1: 3 ± 2.83 / sqrt(2))
    own = '+3.00 ± 2.00 (above 0.5)'
    assert row.split(' | ')[5] == '—' and row.split(' | ')[8] == own
    # a run replaced since the summary (its final value is not the summary's): the same
    record = _longer({0: (15.0, 20.0), 1: (15.0, 16.0)})
    record['curves-x4']['3dseg-t']['1']['curve'][-1][2] = 30.0
    row = next(line for line in comparison_tables.convergence_table(
        lambda name: record).splitlines() if line.startswith('| 3DSeg-T'))
    assert row.split(' | ')[5] == '—' and row.split(' | ')[8] == own
    # the runs the summary was made from: their mean
    record = _longer({0: (15.0, 20.0), 1: (15.0, 16.0)})
    row = next(line for line in comparison_tables.convergence_table(
        lambda name: record).splitlines() if line.startswith('| 3DSeg-T'))
    assert row.split(' | ')[5].endswith('15.00, 15.00, 18.00') and row.split(' | ')[8] == own


def test_lead_table_at_a_longer_budget_without_a_baseline_says_which_budget():
    record = {'curve_summary-x4': {'3dseg-t': _record()['curve_summary']['3dseg-t']}}
    assert comparison_tables.lead_table(lambda name: record, scale=4) == (
        'No baseline has a finished learning-curve run at 4x the budget yet (3DSeg-T has 3 of '
        'its seeds).\n')
