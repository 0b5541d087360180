"""The embedded-scale synthetic video benchmark (`tcclip synth`).

Modules, one job each:
  vocab      colours, shapes, sizes, motions; the composed and reversal-pair classes
  render     numpy rendering of shapes, backgrounds, motion tracks, clips and still images
  generator  plans every clip, renders them in worker processes, writes lists, labels,
             catalog and manifest like the real datasets'
"""
