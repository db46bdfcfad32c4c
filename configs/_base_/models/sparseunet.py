# Sparse-convolution U-Net baseline (SparseConvNet / MinkUNet family): mmdet3d's MinkUNetBackbone
# with the spconv backend, on the non-free voxels only (tsdf channel > -3); free space is class 0
# (void) by construction (the head's free_space_class). Same segmentor, data, loss and metric
# as 3D Segmenter.
num_classes = 30
model = dict(
    type='VolumeEncoderDecoder',
    data_preprocessor=dict(
        type='VolumeDataPreprocessor', pad_values=(-3., -1., -1., -1.), seg_pad_val=255),
    backbone=dict(
        type='SparseUNet3D',
        in_channels=4,
        base_channels=32,
        encoder_channels=(32, 64, 128, 256),
        decoder_channels=(256, 128, 96, 96),
        encoder_blocks=(2, 2, 2, 2),
        decoder_blocks=(2, 2, 2, 2),
        block_type='basic',
        # BN1d (statistics over the active voxels of the batch), GN (num_groups) or LN
        norm_cfg=dict(type='BN1d')),
    decode_head=dict(
        type='LinearSkipHead',
        in_channels=96,
        num_classes=num_classes,
        volume_channels=4,
        skip=False,  # like the 3D U-Net: the last level is already at full resolution
        free_space_class=0,  # free voxels never enter the network: void by construction
        ignore_index=255,
        loss_decode=dict(type='ChunkedCrossEntropyLoss', loss_weight=1.0, avg_non_ignore=True)),
    train_cfg=dict(),
    test_cfg=dict(mode='slide', crop_size=128, stride=96))
