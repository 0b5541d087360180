"""Which patches formed the context tokens: a figure over a few videos of a trained TC run.

For each video, the frames of the first test view, with the seed patches of the last
layer's largest context tokens outlined in one colour per token (a token collects seeds
from several frames: that is the temporal context it carries).
"""

from __future__ import annotations

from pathlib import Path

import torch

from tcclip.errors import TcclipError

TOKENS_SHOWN = 6  # the largest context tokens get a colour; the rest are left plain


def context_assignments(model, clips: torch.Tensor, layer: int = -1) -> list[dict]:
    """Per video: patch index (T, n_s) and context-token id (T, n_s) of one layer's seeds."""
    with torch.no_grad():
        out = model.encode_video(clips, trace=True)
    if not out.trace:
        raise TcclipError("this model builds no context tokens (model.vision.temporal must be tc, num_context > 0)")
    record = out.trace[layer]
    return [{"patch_index": record["patch_index"][b], "assignment": record["assignment"][b]} for b in range(clips.shape[0])]


def plot_context_tokens(frames: list[torch.Tensor], traces: list[dict], grid: int, path: Path, titles: list[str]) -> None:
    """frames: per video (T, 3, S, S) in 0-255; traces from ``context_assignments``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.patches as patches
    import matplotlib.pyplot as plt

    t = frames[0].shape[0]
    fig, axes = plt.subplots(len(frames), t, figsize=(1.6 * t, 1.75 * len(frames)), squeeze=False)
    colours = plt.get_cmap("tab10").colors
    for v, (video, trace) in enumerate(zip(frames, traces)):
        size = video.shape[-1] / grid
        tokens, counts = trace["assignment"].flatten().unique(return_counts=True)
        largest = tokens[counts.argsort(descending=True)][:TOKENS_SHOWN].tolist()
        for f in range(t):
            ax = axes[v, f]
            ax.imshow(video[f].permute(1, 2, 0).clamp(0, 255).byte().numpy())
            ax.set_xticks([])
            ax.set_yticks([])
            for patch, token in zip(trace["patch_index"][f].tolist(), trace["assignment"][f].tolist()):
                if token not in largest:
                    continue
                row, col = divmod(patch, grid)
                ax.add_patch(patches.Rectangle((col * size, row * size), size, size, fill=False, linewidth=1.5,
                                               edgecolor=colours[largest.index(token) % len(colours)]))
            if f == 0:
                ax.set_ylabel(titles[v], fontsize=7)
    fig.suptitle(f"Seed patches of the {TOKENS_SHOWN} largest context tokens (last layer), one colour per token")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def context_figure(run_path: str | Path, out: str | Path, videos: int = 4) -> Path:
    """Draw the figure for the first ``videos`` videos of the run's first evaluation set."""
    from tcclip.data.dataset import VideoDataset
    from tcclip.data.transforms import model_input, to_pixels
    from tcclip.engine.evaluate import load_model
    from tcclip.engine.run_config import load_resolved, resolve_task
    from tcclip.engine.runtime import setup_distributed

    run_path = Path(run_path)
    cfg = load_resolved(run_path / "config.yaml")
    rt = setup_distributed("cpu")
    model, _ = load_model(cfg, run_path, "last", None, rt)
    model.eval()
    task = resolve_task(cfg)
    spec = next(iter(task.evals.values()))
    dataset = VideoDataset.from_split(spec, cfg.data.replace(mode="test", num_clips=1, num_crops=1))
    step = max(1, len(dataset) // videos)
    items = [dataset[i * step] for i in range(min(videos, len(dataset)))]
    clips = model_input(torch.stack([item["video"][0] for item in items]))  # first view of each, normalised
    traces = context_assignments(model, clips)
    names = spec.prompt_names(cfg.class_names)
    grid = int(round(model.vision.num_patches ** 0.5))
    titles = [f"{spec.dataset}: {names[item['label']]}" for item in items]
    plot_context_tokens([to_pixels(item["video"][0]) for item in items], traces, grid, Path(out), titles)
    return Path(out)
