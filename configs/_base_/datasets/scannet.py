# ScanNet v2 converted by tools/data/scannet_to_volume.py (4 cm voxels, 20 benchmark classes).
# Layout: <data_root>/volumes/<scene>.npz, vertices/<scene>.npz (mesh vertex -> voxel),
# splits/{training,validation,test}.txt (from scannetv2_{train,val,test}.txt).
# Evaluated twice: voxels of the surface band, and mesh vertices (the benchmark's protocol,
# through mmdet3d's seg_eval).
dataset_type = 'ScanNetVolumeDataset'
data_root = 'data/scannet'
crop_size = 128
train_pipeline = [
    dict(type='LoadVolume', num_classes=20),
    dict(type='RandomVolumeCrop', crop_size=crop_size, tries=4),
    dict(type='RandomFlipRotateZ'),
    dict(type='VolumeColorJitter', brightness=0.1, contrast=0.1),
    dict(type='PackVolumeInputs'),
]
test_pipeline = [dict(type='LoadVolume', num_classes=20), dict(type='PackVolumeInputs')]


def _split(name, pipeline):
    return dict(type=dataset_type, data_root=data_root, ann_file=f'splits/{name}.txt',
                data_prefix=dict(volume_path='volumes', vertex_path='vertices'),
                pipeline=pipeline)


train_dataloader = dict(
    batch_size=1, num_workers=4, persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=_split('training', train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=1, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=_split('validation', test_pipeline))
# the benchmark's test labels are hidden: tools/test.py scores the validation scenes
test_dataloader = val_dataloader
val_evaluator = [dict(type='VolumeIoUMetric'), dict(type='MeshPointIoUMetric')]
test_evaluator = val_evaluator
