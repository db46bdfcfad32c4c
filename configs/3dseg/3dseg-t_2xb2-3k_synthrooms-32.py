# CPU-sized 3DSeg-T on the generated rooms (8 cm voxels, 32^3 blocks): `make demo` trains it.
_base_ = [
    '../_base_/models/3dseg.py', '../_base_/datasets/synthrooms.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_80k_adam.py'
]
crop_size = 32
model = dict(
    backbone=dict(arch='t', drop_path_rate=0.1),
    decode_head=dict(in_channels=96),
    test_cfg=dict(mode='slide', crop_size=64, stride=48))
train_dataloader = dict(
    batch_size=2,
    dataset=dict(pipeline=[
        dict(type='LoadVolume'),
        dict(type='RandomVolumeCrop', crop_size=crop_size, tries=4),
        dict(type='RandomFlipRotateZ'),
        dict(type='VolumeColorJitter', brightness=0.1, contrast=0.1),
        dict(type='PackVolumeInputs'),
    ]))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=100),
    dict(type='PolyLR', eta_min=1e-5, power=1.0, begin=100, end=3000, by_epoch=False),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=3000, val_interval=1000)
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=1000, max_keep_ckpts=2))
# fixed seed: the paper-table runs (tools/analysis/paper_tables.py) compare like with like
randomness = dict(seed=0)
