# The paper's larger 2D teacher: the ViT-B teacher's recipe with mmseg's Segmenter ViT-L/16
# widths (as mmseg's own segmenter_vit-l config sets them over its ViT-B model).
_base_ = ['./segmenter_vit-b_mask_8xb1-80k_panorooms-512x1024.py']
model = dict(
    # ImageNet-21k ViT-L/16 converted with mmseg's tools/model_converters/vit2mmseg.py
    pretrained='checkpoints/vit_large_p16_384.pth',
    backbone=dict(embed_dims=1024, num_layers=24, num_heads=16),
    decode_head=dict(in_channels=1024, channels=1024, num_heads=16, embed_dims=1024))
