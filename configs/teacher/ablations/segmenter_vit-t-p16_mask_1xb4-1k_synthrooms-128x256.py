# Teacher study rows `p16-1k` and `p16-1k-balanced` (studies/teacher_study.py): the embedded
# teacher (ViT-T, 16-pixel patches, whole panoramas shrunk to 128x256) for 1 000 iterations,
# validated and checkpointed once, at the end, as every row of the study.
# Names of the study's rows spell out what the rows vary: the patch size (`vit-t-p16`,
# `vit-t-p8`), the iterations (`1xb4-1k`), the training panoramas (`synthrooms`, or
# `synthrooms+pano2d` with the panorama-only rooms) and the crop (h x w). The `-balanced` rows
# run the same file with the class weights of their training annotations added (a run input:
# they are counted from the data).
_base_ = ['../segmenter_vit-t_mask_1xb4-1k_synthrooms-128x256.py']
train_cfg = dict(val_interval=1000)
default_hooks = dict(checkpoint=dict(interval=1000))
