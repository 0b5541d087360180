"""The training engine: everything that turns a run configuration into weights and metrics.

Modules, one job each:
  run_config   typed run configuration (preset + protocol task + overrides), run ids
  train        fine-tuning loop of one protocol task (resumes from its last checkpoint)
  evaluate     multi-view evaluation of a run's weights (fine-tuned and WiSE-FT)
  checkpoint   atomic writes and checked reads of checkpoints and JSON files
  optim        optimiser parameter groups and the learning-rate schedules (official and ours before)
  mixup        mixup / cutmix batches and their soft-target loss
  metrics      top-k counts, multi-view aggregation, harmonic mean
  runtime      threads, seeds, logging, torch.distributed set-up
  wiseft       weight-space ensembling of fine-tuned and zero-shot weights
  pretrain     contrastive pretraining of the embedded-scale tiny CLIP
  commands     the train / evaluate / run / pretrain-clip sub-commands
"""
