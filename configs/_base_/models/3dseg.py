# 3D Segmenter: isotropic 3D Swin encoder + linear decoder with a skip to the raw input.
num_classes = 30
model = dict(
    type='VolumeEncoderDecoder',
    data_preprocessor=dict(
        type='VolumeDataPreprocessor', pad_values=(-3., -1., -1., -1.), seg_pad_val=255),
    backbone=dict(
        type='SwinTransformer3D',
        arch='t',
        in_channels=4,
        patch_size=4,
        window_size=8,
        mlp_ratio=4.,
        qkv_bias=True,
        drop_rate=0.,
        attn_drop_rate=0.,
        drop_path_rate=0.2,
        out_indices=(-1, ),
        final_norm=True,
        with_cp=False),
    decode_head=dict(
        type='LinearSkipHead',
        in_channels=96,
        num_classes=num_classes,
        volume_channels=4,
        skip=True,
        ignore_index=255,
        # mmseg's CrossEntropyLoss, computed a chunk of voxels at a time (same value and
        # gradient; 572 MB instead of 967 MB on (1, 30, 128^3) logits, docs/results_history.md)
        loss_decode=dict(type='ChunkedCrossEntropyLoss', loss_weight=1.0, avg_non_ignore=True)),
    train_cfg=dict(),
    test_cfg=dict(mode='slide', crop_size=128, stride=96))
