# The embedded teacher with the paper's premise made concrete: 2D data is abundant. Besides the
# labelled rooms' own panoramas (and their extra views), it trains on the panoramas of a larger
# set of rooms that have no 3D labels for the student (`pano2d_root`, e.g. 960 rooms made with
# `tools/data/generate_synthrooms.py --seed 1 --split 1 0 0`, disjoint from the study rooms).
# Four times the schedule of the 1k config. The class-balanced variant of the teacher study adds
# `model.decode_head.loss_decode.class_weight` (see studies/teacher_study.py).
_base_ = ['./segmenter_vit-t_mask_1xb4-1k_synthrooms-128x256.py']
pano2d_root = 'data/synthrooms_pano2d'
_training = dict(type='PanoramaDataset', img_suffix='.png',
                 data_prefix=dict(img_path='images/training',
                                  seg_map_path='annotations/training'),
                 pipeline={{_base_.pano_train_pipeline}})
# datasets.0 is the labelled rooms (`data_root` set like every other dataset of the study),
# datasets.1 the panorama-only rooms
train_dataloader = dict(dataset=dict(
    _delete_=True, type='ConcatDataset',
    datasets=[dict(_training, data_root='data/synthrooms'),
              dict(_training, data_root=pano2d_root)]))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=100),
    dict(type='PolyLR', eta_min=1e-5, power=1.0, begin=100, end=4000, by_epoch=False),
]
train_cfg = dict(max_iters=4000, val_interval=4000)
default_hooks = dict(checkpoint=dict(interval=4000))
