# The paper's 2D teacher fine-tuned from a released mmseg Segmenter ADE20K checkpoint (ViT-B,
# 150 classes, 512x512) instead of the ImageNet-21k ViT: pass it as load_from
# (docs/distillation.md). The backbone is built at the checkpoint's 512x512, so its position
# embeddings (32x32 patches) load; mmseg's ViT interpolates them to each input's patch grid
# (32x64 on the 512x1024 panoramas). Give this file, not the ImageNet one, to the distiller
# (model.teacher_config) and tools/test.py for a teacher trained with it: the ImageNet config
# builds 32x64 position embeddings, which this teacher's checkpoint does not hold.
_base_ = ['./segmenter_vit-b_mask_8xb1-80k_panorooms-512x1024.py']
model = dict(
    pretrained=None,  # the ADE20K checkpoint holds the backbone
    backbone=dict(img_size=(512, 512)))
