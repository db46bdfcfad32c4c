# PanoRooms3D release (5 917 rooms from 3D-FRONT, 30 classes); 128^3 blocks as in the paper.
# Layout: <data_root>/volumes/<room>.npz (sdf128, color128, semanticlabel),
# images/<split>/<room>.jpg, annotations/<split>/<room>.png, splits/<split>.txt.
# The generated rooms' layout (synthrooms.py) with the release's root, block size, JPEG
# panoramas and loader sizes, as panorama_panorooms.py is panorama_synthrooms.py's. mmengine
# merges dicts only: the base's values computed from its variables (the crop in the training
# pipeline, the root in each dataset) are set again here.
_base_ = ['./synthrooms.py']
data_root = 'data/panorooms3d'
crop_size = 128
train_pipeline = [
    dict(type='LoadVolume'),
    dict(type='RandomVolumeCrop', crop_size=crop_size, tries=4),
    dict(type='RandomFlipRotateZ'),
    dict(type='VolumeColorJitter', brightness=0.1, contrast=0.1),
    dict(type='PackVolumeInputs'),
]
train_dataloader = dict(
    batch_size=1, num_workers=4,
    dataset=dict(data_root=data_root, img_suffix='.jpg', pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(data_root=data_root, img_suffix='.jpg'))
test_dataloader = dict(dataset=dict(data_root=data_root, img_suffix='.jpg'))
