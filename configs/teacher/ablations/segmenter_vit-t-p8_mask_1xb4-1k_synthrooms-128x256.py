# Teacher study row `p8-1k` (studies/teacher_study.py): the `p16-1k` teacher with 8-pixel
# patches, four times the tokens of a panorama: whether finer tokens find the small objects
# of a 128x256 panorama at this budget.
_base_ = ['./segmenter_vit-t-p16_mask_1xb4-1k_synthrooms-128x256.py']
model = dict(backbone=dict(patch_size=8))
