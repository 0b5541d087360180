"""tcclip: TC-CLIP (Temporally Contextualized CLIP) for reproducible video-recognition benchmarks."""

__version__ = "0.1.0"
