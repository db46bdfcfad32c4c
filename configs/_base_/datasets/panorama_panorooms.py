# PanoRooms3D release panoramas (images/<split>/<room>.jpg, annotations/<split>/<room>.png),
# 512x1024 as in the paper, read as they are (no Resize). See panorama_synthrooms.py for how
# teacher configs use the names.
_base_ = ['./panorama_synthrooms.py']
pano_data_root = 'data/panorooms3d'
pano_img_suffix = '.jpg'
pano_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomPanoramaRoll'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
pano_test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
pano_train_dataloader = dict(
    batch_size=1, num_workers=4,
    dataset=dict(data_root=pano_data_root, img_suffix=pano_img_suffix,
                 pipeline=pano_train_pipeline))
pano_val_dataloader = dict(dataset=dict(data_root=pano_data_root, img_suffix=pano_img_suffix,
                                        pipeline=pano_test_pipeline))
pano_test_dataloader = dict(dataset=dict(data_root=pano_data_root, img_suffix=pano_img_suffix,
                                         pipeline=pano_test_pipeline))
