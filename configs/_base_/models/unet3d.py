# 3D U-Net baseline (Cicek et al. 2016) with a per-voxel linear classifier: the same segmentor,
# data preprocessor and loss as 3D Segmenter, a convolutional encoder-decoder as backbone.
num_classes = 30
model = dict(
    type='VolumeEncoderDecoder',
    data_preprocessor=dict(
        type='VolumeDataPreprocessor', pad_values=(-3., -1., -1., -1.), seg_pad_val=255),
    backbone=dict(type='UNet3D', in_channels=4, base_channels=32, num_levels=4,
                  norm_cfg=dict(type='BN3d')),
    decode_head=dict(
        type='LinearSkipHead',
        in_channels=32,
        num_classes=num_classes,
        volume_channels=4,
        skip=False,  # the U-Net's last level is already at full resolution
        ignore_index=255,
        loss_decode=dict(type='ChunkedCrossEntropyLoss', loss_weight=1.0, avg_non_ignore=True)),
    train_cfg=dict(),
    test_cfg=dict(mode='slide', crop_size=128, stride=96))
