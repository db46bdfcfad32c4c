# VT-UNet row: MONAI's SwinUNETR (volumetric Swin encoder, convolutional U-Net decoder), its
# decoder feature classified per voxel by the same linear head (its own 1x1x1 output conv).
# Inputs are padded with empty space to multiples of 32 and cropped back.
num_classes = 30
model = dict(
    type='VolumeEncoderDecoder',
    data_preprocessor=dict(
        type='VolumeDataPreprocessor', pad_values=(-3., -1., -1., -1.), seg_pad_val=255),
    backbone=dict(
        type='SwinUNETR',
        in_channels=4,
        feature_size=24,  # a multiple of 12 (MONAI); 24 is MONAI's default width
        depths=(2, 2, 2, 2),
        num_heads=(3, 6, 12, 24),
        # GN, IN3d or BN3d (the convolutional blocks; the Swin stages keep LayerNorm)
        norm_cfg=dict(type='GN', num_groups=4),
        drop_path_rate=0.),
    decode_head=dict(
        type='LinearSkipHead',
        in_channels=24,
        num_classes=num_classes,
        volume_channels=4,
        skip=False,  # the decoder's last level is already at full resolution
        ignore_index=255,
        loss_decode=dict(type='ChunkedCrossEntropyLoss', loss_weight=1.0, avg_non_ignore=True)),
    train_cfg=dict(),
    test_cfg=dict(mode='slide', crop_size=128, stride=96))
