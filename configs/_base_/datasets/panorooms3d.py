# PanoRooms3D release (5 917 rooms from 3D-FRONT, 30 classes); 128^3 blocks as in the paper.
# Layout: <data_root>/volumes/<room>.npz (sdf128, color128, semanticlabel),
# images/<split>/<room>.jpg, annotations/<split>/<room>.png, splits/<split>.txt.
dataset_type = 'VolumeDataset'
data_root = 'data/panorooms3d'
crop_size = 128
train_pipeline = [
    dict(type='LoadVolume'),
    dict(type='RandomVolumeCrop', crop_size=crop_size, tries=4),
    dict(type='RandomFlipRotateZ'),
    dict(type='VolumeColorJitter', brightness=0.1, contrast=0.1),
    dict(type='PackVolumeInputs'),
]
test_pipeline = [dict(type='LoadVolume'), dict(type='PackVolumeInputs')]


def _split(name, pipeline):
    return dict(type=dataset_type, data_root=data_root, ann_file=f'splits/{name}.txt',
                img_suffix='.jpg', data_prefix=dict(volume_path='volumes',
                                                    img_path=f'images/{name}'),
                pipeline=pipeline)


train_dataloader = dict(
    batch_size=1, num_workers=4, persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=_split('training', train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=1, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=_split('validation', test_pipeline))
test_dataloader = dict(
    batch_size=1, num_workers=1, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=_split('test', test_pipeline))
val_evaluator = dict(type='VolumeIoUMetric')
test_evaluator = val_evaluator
