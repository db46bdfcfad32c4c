# Room-level fine-tuning without distillation: the block-trained 3DSeg-T on whole rooms at
# batch 1 with cross-entropy only. The distillation config adds the teacher to exactly this, so
# the two isolate what the teacher adds (tools/analysis/paper_tables.py compares them).
_base_ = ['./3dseg-t_2xb2-3k_synthrooms-32.py']
load_from = 'work_dirs/demo/3dseg-t/iter_3000.pth'  # the block-trained student
room_pipeline = [dict(type='LoadVolume'), dict(type='PackVolumeInputs')]
train_dataloader = dict(batch_size=1, dataset=dict(pipeline=room_pipeline))
optim_wrapper = dict(optimizer=dict(lr=1e-4))
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False, begin=0, end=360)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=360, val_interval=120)
default_hooks = dict(checkpoint=dict(interval=120, max_keep_ckpts=1))
