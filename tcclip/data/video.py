"""Reading and writing video files.

Two interchangeable readers with one interface (``num_frames`` and
``get_batch(indices) -> uint8 array (n, H, W, 3)``, RGB):

* ``decord`` (default; what the official code uses): frame-accurate random access.
* ``pyav``: decodes sequentially up to the last frame asked for; slower on long videos
  but has no binary-wheel constraints (decord ships x86_64 wheels only).

Every failure inside a backend (missing file, broken container, undecodable frame) is
turned into a one-line ``VideoError`` naming the file, so the dataset can either raise
it or count the video as skipped — never a crash from deep inside a decoder.

Open a reader where it is used (inside ``Dataset.__getitem__``), never in ``__init__``:
decord readers shared with forked DataLoader workers can hang.
"""

from __future__ import annotations

import os
import platform
import re
import warnings
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from tcclip.data.errors import VideoError

BACKENDS = ("decord", "pyav")
_warned_no_decord = False


class VideoReader(Protocol):
    path: str
    num_frames: int

    def get_batch(self, indices: Sequence[int]) -> np.ndarray: ...


def decord_available() -> bool:
    try:
        import decord  # noqa: F401
    except Exception:  # ImportError, or a broken shared library
        return False
    return True


NO_DECORD = "decord is not importable here (pip install decord; x86_64 wheels only)"


def resolve_backend(name: str) -> str:
    """The backend that will actually run: 'decord' falls back to 'pyav' (once, with a warning
    line). The paper scale refuses that fallback before it gets here (``check_backend``)."""
    global _warned_no_decord
    if name not in BACKENDS:
        from tcclip.errors import ConfigError

        raise ConfigError(f"video backend {name!r}: expected one of {', '.join(BACKENDS)}")
    if name == "decord" and not decord_available():
        if not _warned_no_decord:
            warnings.warn(f"{NO_DECORD}; reading videos with PyAV instead, whose frame indexing can differ "
                          "from decord's (set data.backend=pyav to say so)", RuntimeWarning)
            _warned_no_decord = True
        return "pyav"
    return name


def check_backend(name: str, scale: str) -> None:
    """At the paper scale a missing decord stops the run (one line) instead of falling back to
    PyAV: the official code reads with decord, and PyAV's frame indexing can differ (variable
    frame rates, edit lists), so the same list would yield other frames. ``data.backend=pyav``
    asks for PyAV explicitly. The embedded scale falls back with a warning (``resolve_backend``)."""
    if scale == "paper" and name == "decord" and not decord_available():
        from tcclip.errors import ConfigError

        raise ConfigError(f"data.backend=decord: {NO_DECORD}, and the paper scale does not fall back to PyAV, "
                          "whose frame indexing can differ; install decord, or set data.backend=pyav to use PyAV")


def open_video(path: str | Path, backend: str = "decord") -> VideoReader:
    """Open ``path`` with ``backend``; raises VideoError (kind missing / empty / unreadable)."""
    path = Path(path)
    _check_file(path)
    if resolve_backend(backend) == "decord":
        return DecordReader(path)
    return PyAVReader(path)


def _check_file(path: Path) -> None:
    if not path.exists():
        raise VideoError(path, "file not found", kind="missing")
    if not path.is_file():
        raise VideoError(path, "is not a file", kind="missing")
    if path.stat().st_size == 0:
        raise VideoError(path, "file is empty (0 bytes)", kind="empty")


def _short(err: BaseException) -> str:
    """First line of a decoder's message, without decord's C++ stack dump."""
    text = str(err).strip().splitlines()
    line = next((t for t in text if t.strip() and not t.startswith("Stack trace")), type(err).__name__)
    line = re.sub(r"^(\[[\d:]+\] \S+:\d+: )+", "", line.strip())  # decord's "[time] file.cc:123: " prefixes
    return f"{type(err).__name__}: {line[:200]}"


def _describe(indices: Sequence[int]) -> str:
    indices = list(indices)
    return str(indices) if len(indices) <= 6 else f"[{', '.join(map(str, indices[:6]))}, ...] ({len(indices)} frames)"


def _check_indices(path: str, indices: Sequence[int], num_frames: int) -> list[int]:
    out = [int(i) for i in indices]
    bad = [i for i in out if not 0 <= i < num_frames]
    if bad:
        raise VideoError(path, f"frame index {bad[0]} is out of range (video has {num_frames} frames)")
    return out


class DecordReader:
    # Folders where decord's batch read failed on padded rows: later videos there (usually of
    # the same size) go straight to single-frame reads instead of failing a batch read first.
    _per_frame_folders: set[str] = set()

    def __init__(self, path: str | Path):
        import decord

        self.path = str(path)
        try:
            self._reader = decord.VideoReader(self.path, num_threads=1)
            self.num_frames = len(self._reader)
        except Exception as err:
            raise VideoError(self.path, f"decord cannot open it ({_short(err)})") from None
        if self.num_frames <= 0:
            raise VideoError(self.path, "has no frames", kind="empty")
        self._per_frame = os.path.dirname(self.path) in self._per_frame_folders

    def get_batch(self, indices: Sequence[int]) -> np.ndarray:
        indices = _check_indices(self.path, indices, self.num_frames)
        if not self._per_frame:
            try:
                return self._reader.get_batch(indices).asnumpy()
            except Exception as err:
                # decord 0.6 mis-reads frames whose RGB rows are padded (e.g. width 72 comes back
                # with 4 "channels") and get_batch then fails on a size check. Single-frame reads
                # still work and can be un-padded; anything else is a real decoding failure.
                if "DECORDArrayCopyFromTo" not in str(err):
                    raise VideoError(self.path, f"decord cannot decode frames {_describe(indices)} ({_short(err)})") from None
                self._per_frame = True
                self._per_frame_folders.add(os.path.dirname(self.path))
        try:
            return np.stack([self._unpad(self._reader[i].asnumpy()) for i in indices])
        except VideoError:
            raise
        except Exception as err:
            raise VideoError(self.path, f"decord cannot decode frames {_describe(indices)} ({_short(err)})") from None

    def _unpad(self, frame: np.ndarray) -> np.ndarray:
        height, width, channels = frame.shape
        if channels == 3:
            return frame
        rows = frame.reshape(height, width * channels)  # the real row layout: padded RGB bytes
        if width * channels < width * 3:
            raise VideoError(self.path, f"decord returned frames of shape {frame.shape}, expected (H, W, 3)")
        return np.ascontiguousarray(rows[:, : width * 3].reshape(height, width, 3))


class PyAVReader:
    def __init__(self, path: str | Path):
        import av

        self.path = str(path)
        try:
            with av.open(self.path) as container:
                if not container.streams.video:
                    raise VideoError(self.path, "has no video stream", kind="empty")
                stream = container.streams.video[0]
                count = stream.frames
                if count <= 0:  # no count in the header (e.g. webm): count packets, no decoding
                    count = sum(1 for packet in container.demux(stream) if packet.size > 0)
        except VideoError:
            raise
        except Exception as err:
            raise VideoError(self.path, f"PyAV cannot open it ({_short(err)})") from None
        if count <= 0:
            raise VideoError(self.path, "has no frames", kind="empty")
        self.num_frames = int(count)

    def get_batch(self, indices: Sequence[int]) -> np.ndarray:
        import av

        indices = _check_indices(self.path, indices, self.num_frames)
        wanted = set(indices)
        last = max(indices)
        frames: dict[int, np.ndarray] = {}
        decoded = 0
        try:
            with av.open(self.path) as container:
                stream = container.streams.video[0]
                stream.codec_context.thread_count = 1  # parallelism comes from DataLoader workers
                for position, frame in enumerate(container.decode(stream)):
                    decoded = position + 1
                    if position in wanted:
                        frames[position] = frame.to_ndarray(format="rgb24")
                    if position >= last:
                        break
        except Exception as err:
            raise VideoError(self.path, f"PyAV cannot decode frame {decoded} ({_short(err)})") from None
        if last not in frames:
            raise VideoError(self.path, f"only {decoded} of {self.num_frames} frames could be decoded (frame {last} requested)")
        return np.stack([frames[i] for i in indices])


def read_all_frames(path: str | Path, backend: str = "pyav") -> np.ndarray:
    """Every frame of a (short) video, (T, H, W, 3) uint8. For tests and inspection."""
    reader = open_video(path, backend)
    return reader.get_batch(range(reader.num_frames))


# BT.601 limited range ("TV" levels), what decoders assume for an H.264 stream that names no
# colour matrix: Y = 16 + 219/255 (0.299 R + 0.587 G + 0.114 B), Cb/Cr = 128 + 224/255 of the
# scaled colour differences. Fixed point with 16 fractional bits; each chroma row sums to 0 so
# that greys map to exactly 128.
_YUV_BITS = 16
_Y_FROM_RGB = (16829, 33039, 6416)
_CB_FROM_RGB = (-9714, -19070, 28784)
_CR_FROM_RGB = (28784, -24103, -4681)
# x264 picks its assembly by CPU at run time, and its AVX2 and AVX-512 routines are not
# bit-exact with its C code (measured: every clip differs; the AVX-512 ones even differ
# between two encodes of one clip in one process). Its SSE2 routines, present on every
# x86-64 CPU, gave the same bytes as the C code on every clip tried; elsewhere x264 runs C.
_X264_CPU = "MMX2,SSE,SSE2" if platform.machine().lower() in ("x86_64", "amd64") else "0"
# x264's macroblock-tree rate control reads uninitialised stack memory (valgrind memcheck: the
# lookahead's costs feed a table index in mbtree's qp offsets; "Use of uninitialised value",
# 16 reports on 3 clips at 72 px). What lies there depends on what ran before in the process
# (which clip a worker encodes first, the dynamic linker's register saves, whose size depends on
# the CPU), so a clip's bytes could depend on the worker that encoded it. With mbtree off,
# memcheck finds no uninitialised read in x264, libav*, numpy or Pillow (.ci/memcheck).
_X264_PARAMS = f"asm={_X264_CPU}:mbtree=0"


def _weighted(rgb: np.ndarray, weights: tuple[int, int, int]) -> np.ndarray:
    """weights . (R, G, B) for channels-first integer planes (3, ...)."""
    return weights[0] * rgb[0] + weights[1] * rgb[1] + weights[2] * rgb[2]


def rgb_to_yuv420p(frames: np.ndarray) -> np.ndarray:
    """(..., H, W, 3) uint8 RGB -> (..., 3H/2, W) uint8 I420 (Y plane, then U, then V), in integers.

    Chroma is the rounded mean of each 2x2 block. Converting here, not in libswscale, keeps
    the encoder's input the same on every CPU: swscale's SIMD and C converters round
    differently (measured: all of 194 clips).
    """
    *lead, height, width, _ = frames.shape
    rgb = np.ascontiguousarray(np.moveaxis(frames, -1, 0), dtype=np.int32)  # (3, ..., H, W)
    half = 1 << (_YUV_BITS - 1)
    luma = (_weighted(rgb, _Y_FROM_RGB) + (16 << _YUV_BITS) + half) >> _YUV_BITS
    blocks = rgb[..., 0::2, 0::2] + rgb[..., 0::2, 1::2] + rgb[..., 1::2, 0::2] + rgb[..., 1::2, 1::2]
    chroma = [(_weighted(blocks, w) + (128 << (_YUV_BITS + 2)) + (half << 2)) >> (_YUV_BITS + 2)  # of 4x the means
              for w in (_CB_FROM_RGB, _CR_FROM_RGB)]
    planes = np.concatenate([plane.reshape(*lead, -1) for plane in (luma, *chroma)], axis=-1)
    return np.clip(planes, 0, 255).astype(np.uint8).reshape(*lead, height * 3 // 2, width)


def write_video(path: str | Path, frames: np.ndarray, fps: int = 10, crf: int = 18, preset: str = "veryfast") -> Path:
    """Encode (T, H, W, 3) uint8 RGB frames as H.264/yuv420p mp4 (even H and W).

    The bytes are a function of the frames alone (same on every run, process and CPU):
    RGB -> I420 in integer numpy (``rgb_to_yuv420p``), x264 on one thread, on the same
    routines on every x86-64 CPU (``_X264_CPU``) and without macroblock-tree rate control,
    which reads uninitialised memory (``_X264_PARAMS``). The synthetic benchmark parallelises
    over files instead.
    """
    import av

    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected uint8 frames of shape (T, H, W, 3), got {frames.dtype} {frames.shape}")
    _, height, width, _ = frames.shape
    if height % 2 or width % 2:
        raise ValueError(f"yuv420p needs even frame sides, got {width}x{height}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with av.open(str(tmp), "w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=fps)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = {"crf": str(crf), "preset": preset, "threads": "1", "x264-params": _X264_PARAMS}
            stream.codec_context.thread_count = 1
            for planes in rgb_to_yuv420p(frames):  # already yuv420p: PyAV hands them to x264 unconverted
                for packet in stream.encode(av.VideoFrame.from_ndarray(planes, format="yuv420p")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
    except BaseException:
        tmp.unlink(missing_ok=True)  # Ctrl-C or a full disk: no stray temporary file either
        raise
    tmp.replace(path)  # a crash never leaves a half-written file under the final name
    return path
