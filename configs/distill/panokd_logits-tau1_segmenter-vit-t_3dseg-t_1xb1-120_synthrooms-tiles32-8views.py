# The tiles32-tau1 distillation from 8 panoramas a room (the room's own and 7 eye-level views;
# render them with tools/data/render_views.py --views 8), as the -8views config adds them to
# the official one.
_base_ = ['./panokd_logits-tau1_segmenter-vit-t_3dseg-t_1xb1-120_synthrooms-tiles32.py']
train_dataloader = dict(dataset=dict(
    num_views=8,
    data_prefix=dict(volume_path='volumes', img_path='images/training',
                     camera_path='cameras')))
