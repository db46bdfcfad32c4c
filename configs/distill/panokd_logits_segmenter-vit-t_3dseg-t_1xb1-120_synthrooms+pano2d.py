# Distillation where every one of the student's rooms has 3D labels and the teacher also
# reaches rooms that have none: the labelled training rooms (datasets.0) concatenated with the
# first 48 training rooms of a panorama-only set (datasets.1: panoramas and TSDF; their 3D
# labels are never read), e.g. 960 rooms made with `tools/data/generate_synthrooms.py --seed 1
# --split 1 0 0`, disjoint from the labelled ones. The KD term runs on both, the cross entropy
# on the labelled ones. The 2D teacher has the panoramas of all these rooms
# (studies/teacher_study.py, the -pano2d rows): 2D labels are abundant, 3D labels are
# not, the paper's premise. kd_study.py's `+pano2d` rows use it, setting both roots
# (train_dataloader.dataset.datasets.{0,1}.data_root); the number of panorama-only rooms is
# train_dataloader.dataset.datasets.1.indices.
_base_ = ['./panokd_logits_segmenter-vit-t_3dseg-t_1xb1-120_synthrooms.py']
distill_pipeline = [
    dict(type='LoadVolume'),
    dict(type='LoadPanorama'),
    dict(type='PackVolumeInputs'),
]
labelled_rooms = dict(
    type='VolumeDataset',
    data_root='data/synthrooms',
    ann_file='splits/training.txt',
    data_prefix=dict(volume_path='volumes', img_path='images/training'),
    pipeline=distill_pipeline)
panorama_only_rooms = dict(
    type='VolumeDataset',
    data_root='data/synthrooms_pano2d',
    ann_file='splits/training.txt',
    data_prefix=dict(volume_path='volumes', img_path='images/training'),
    labelled_rooms=0,  # no room of this set gives the student 3D labels
    indices=48,
    pipeline=distill_pipeline)
train_dataloader = dict(
    dataset=dict(_delete_=True, type='ConcatDataset',
                 datasets=[labelled_rooms, panorama_only_rooms]))
