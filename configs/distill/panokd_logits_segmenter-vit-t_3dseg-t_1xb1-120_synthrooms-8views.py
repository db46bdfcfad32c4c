# Multi-view distillation on the generated rooms: each training room brings its own panorama
# and 7 more from eye-level cameras (render them first:
#   python tools/data/render_views.py --data data/synthrooms --views 8
# ). The hits of all views are fused into one KD term, so surfaces the centre view sees
# occluded get the teacher's signal too. Everything else is the single-view config.
_base_ = ['./panokd_logits_segmenter-vit-t_3dseg-t_1xb1-120_synthrooms.py']
train_dataloader = dict(dataset=dict(
    num_views=8,
    data_prefix=dict(volume_path='volumes', img_path='images/training',
                     camera_path='cameras')))
