import pytest
import torch
from mmseg.evaluation.metrics import IoUMetric

from segmenter3d.evaluation import VolumeIoUMetric
from segmenter3d.structures import VolumeData, VolumeDataSample

CLASSES = tuple(f'c{i}' for i in range(5))


def _sample(pred, gt):
    s = VolumeDataSample()
    s.pred_sem_seg = VolumeData(data=pred[None])
    s.gt_sem_seg = VolumeData(data=gt[None])
    return s.to_dict()


def _mmseg_metrics(pred, gt):
    ref = IoUMetric(iou_metrics=['mIoU'])
    ref.dataset_meta = dict(classes=CLASSES)
    return ref.compute_metrics([IoUMetric.intersect_and_union(pred, gt, 5, 255)])


@pytest.mark.parametrize('threshold', [1.0, 0.5])
def test_equals_mmseg_iou_on_flattened_labels_and_surface_subset(threshold):
    torch.manual_seed(0)
    rooms = [(torch.randint(0, 5, (6, 7, 8)), torch.randint(0, 5, (6, 7, 8))) for _ in range(3)]
    for _, gt in rooms:
        gt[0] = 255
    tsdfs = [torch.rand(6, 7, 8) * 6 - 3 for _ in rooms]
    metric = VolumeIoUMetric(surface_threshold=threshold)
    metric.dataset_meta = dict(classes=CLASSES)
    for (pred, gt), tsdf in zip(rooms, tsdfs):
        inputs = [torch.cat([tsdf[None], torch.zeros(3, 6, 7, 8)])]
        metric.process(dict(inputs=inputs), [_sample(pred, gt)])
    got = metric.compute_metrics(metric.results)

    # mmseg's own metric on all voxels of the rooms at once, and on their surface voxels
    flat_pred = torch.cat([p.flatten() for p, _ in rooms])
    flat_gt = torch.cat([g.flatten() for _, g in rooms])
    expected = _mmseg_metrics(flat_pred, flat_gt)
    mask = torch.cat([(t.abs() < threshold).flatten() for t in tsdfs])
    surface = _mmseg_metrics(flat_pred[mask], flat_gt[mask])
    for key in ('aAcc', 'mIoU', 'mAcc'):
        assert abs(got[key] - expected[key]) < 1e-6, key
        assert abs(got[f'surface_{key}'] - surface[key]) < 1e-6, key
    inter = ((flat_pred == flat_gt) & mask & (flat_gt != 255)).sum().item()
    assert abs(got['surface_aAcc'] - round(100 * inter / (mask & (flat_gt != 255)).sum().item(),
                                           2)) < 1e-6


def test_perfect_prediction_scores_100_and_absent_classes_are_skipped():
    gt = torch.tensor([0, 0, 1, 1, 255]).view(1, 1, 5)
    metric = VolumeIoUMetric()
    metric.dataset_meta = dict(classes=CLASSES)
    metric.process({}, [_sample(gt.clamp(max=4), gt)])
    got = metric.compute_metrics(metric.results)
    assert got['mIoU'] == 100.0 and got['aAcc'] == 100.0 and 'surface_mIoU' not in got


def test_a_misspelt_metric_option_is_refused_not_dropped():
    import pytest
    from mmseg.registry import METRICS
    with pytest.raises(TypeError, match='surface_treshold'):
        METRICS.build(dict(type='VolumeIoUMetric', surface_treshold=0.5))
