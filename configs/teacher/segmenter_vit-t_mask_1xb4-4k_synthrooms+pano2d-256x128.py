# The abundant-2D teacher at the panoramas' own resolution: trained on 256x128 (h x w) crops of
# the 256x512 panoramas, full height (the vertical position says floor, wall or ceiling) and a
# quarter of the width, instead of the whole panorama shrunk to 128x256. Same tokens per image,
# so the same cost a step, but every object twice as many pixels high and wide: at 128x256 a
# table seen from the room centre is about half a 16-pixel patch. Tested (and used by the
# distiller) on the panorama as stored, with 256x128 windows slid around it: the input it was
# trained on.
_base_ = ['./segmenter_vit-t_mask_1xb4-4k_synthrooms+pano2d-128x256.py']
crop_size = (256, 128)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(img_size=crop_size),
    test_cfg=dict(_delete_=True, mode='slide', crop_size=crop_size, stride=(256, 64)))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomPanoramaRoll'),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
_training = dict(type='PanoramaDataset', img_suffix='.png',
                 data_prefix=dict(img_path='images/training',
                                  seg_map_path='annotations/training'),
                 pipeline=train_pipeline)
train_dataloader = dict(dataset=dict(datasets=[
    dict(_training, data_root='data/synthrooms'),
    dict(_training, data_root={{_base_.pano2d_root}})]))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
