# Panoramas of the generated rooms (images/<split>/*.png, annotations/<split>/*.png) for the
# 2D teacher. Names carry a ``pano_`` prefix so this file can sit beside mmseg's own bases;
# teacher configs pick them up as ``train_dataloader = {{_base_.pano_train_dataloader}}``.
pano_dataset_type = 'PanoramaDataset'
pano_data_root = 'data/synthrooms'
pano_img_suffix = '.png'
# The generated 256x512 panoramas are resized to 128x256 for a CPU-sized teacher; predictions
# are resized back to the label size for evaluation, as mmseg's test pipeline does.
pano_scale = (256, 128)  # (w, h)
pano_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='Resize', scale=pano_scale, keep_ratio=False),
    dict(type='RandomPanoramaRoll'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
pano_test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=pano_scale, keep_ratio=False),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]


def _split(name, pipeline):
    return dict(type=pano_dataset_type, data_root=pano_data_root, img_suffix=pano_img_suffix,
                data_prefix=dict(img_path=f'images/{name}', seg_map_path=f'annotations/{name}'),
                pipeline=pipeline)


pano_train_dataloader = dict(
    batch_size=4, num_workers=2, persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=_split('training', pano_train_pipeline))
pano_val_dataloader = dict(
    batch_size=1, num_workers=1, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=_split('validation', pano_test_pipeline))
pano_test_dataloader = dict(
    batch_size=1, num_workers=1, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=_split('test', pano_test_pipeline))
