"""Video data: decoding, sampling, transforms, datasets, catalogs, protocols.

Modules, one job each:
  video        decord / PyAV readers behind one interface; mp4 writer
  sampling     TSN segment indices (train / test / multi-view)
  transforms   the paper's train augmentation and test crops, ImageNet normalisation
  annotations  annotation lists and label files (CSV id,name / rephrased JSON)
  dataset      DataConfig, VideoDataset, skip-aware collate, SkipLog
  check        `tcclip data check`: every problem of a list in one pass
  index        `tcclip data index`: list from a folder-per-class layout
  splits       K-shot subsets, base/novel partitions, relabelling
  catalog      dataset catalogs (real: shipped; synthetic: written by `tcclip synth`)
  protocols    zero-shot / few-shot / base-to-novel / fully-supervised -> concrete tasks
  commands     the CLI sub-commands (data check / index / protocol; synth until it moves to tcclip.synth)
"""
