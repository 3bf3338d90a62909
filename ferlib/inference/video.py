"""Stream the frames of a video file at a chosen rate, one at a time, with their times.

Decoding is PyAV's (``av`` on PyPI: FFmpeg's libraries inside the wheel, so a fresh machine
needs no system FFmpeg, and every frame carries its presentation time). ``ferlib bench-faces``
compares it with OpenCV's ``VideoCapture`` and torchcodec. Frames are decoded and handed on
one by one, so memory stays bounded however long the video is.

Frames come out as a player shows them: a phone filming upright in portrait stores landscape
pixels plus a display matrix that says "turn me a quarter", which FFmpeg's players apply and a
plain decode does not. ``upright`` applies it (PyAV's ``VideoFrame.rotation``).

Taught in ``notebooks/40_real_faces.ipynb`` §4.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import UserError

if TYPE_CHECKING:
    import av

VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg"})


class VideoDecodeError(UserError, RuntimeError):
    """A video that cannot be opened or decoded; the message names the file and the reason."""


def is_video_file(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES and not path.name.startswith(".")


@dataclass(frozen=True)
class VideoInfo:
    """What the container says: frames per second, duration in seconds, frame size as shown
    (after ``rotation``, the display matrix's counter-clockwise turn in degrees)."""

    fps: float
    duration: float
    width: int
    height: int
    rotation: int = 0

    def sampled_count(self, fps: float | None) -> int:
        """About how many frames ``sample_frames`` yields at ``fps`` (for progress bars)."""
        rate = self.fps if fps is None else min(fps, self.fps)
        return max(1, round(self.duration * rate))


def quarter_turns(frame: av.VideoFrame) -> int:
    """Counter-clockwise quarter turns (0-3) that show a decoded ``av.VideoFrame`` upright: its
    display matrix's rotation (``VideoFrame.rotation``, in degrees), to the nearest 90°."""
    return round(frame.rotation / 90) % 4


def upright(frame: av.VideoFrame) -> np.ndarray:
    """A decoded ``av.VideoFrame`` as RGB uint8 H×W×3, turned as its display matrix says."""
    image = frame.to_ndarray(format="rgb24")
    turns = quarter_turns(frame)
    return np.ascontiguousarray(np.rot90(image, turns)) if turns else image


def video_info(path: str | os.PathLike[str]) -> VideoInfo:
    """Frame rate, duration and size of the first video stream, read from the header; the
    rotation from the first frame's display matrix (FFmpeg hands it on to every frame)."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoDecodeError(f"{path}: no video stream")
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 0) or 25.0
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                duration = container.duration / av.time_base
            else:
                duration = (stream.frames or 0) / fps
            width, height = stream.codec_context.width, stream.codec_context.height
            turns = _first_frame_turns(container, stream)
            if turns % 2:
                width, height = height, width
            return VideoInfo(fps, duration, width, height, rotation=90 * turns)
    except av.FFmpegError as err:
        raise VideoDecodeError(f"{path}: cannot open video ({err})") from err


def _first_frame_turns(container: av.container.InputContainer, stream: av.VideoStream) -> int:
    """``quarter_turns`` of the first frame; 0 when it cannot be decoded (``sample_frames``
    reports that, naming the frame)."""
    import av

    try:
        first = next(container.decode(stream), None)
    except av.FFmpegError:
        return 0
    return quarter_turns(first) if first is not None else 0


def sample_frames(
    path: str | os.PathLike[str], fps: float | None = None
) -> Iterator[tuple[int, float, np.ndarray]]:
    """``(frame index, time in s, RGB uint8 H×W×3)`` for frames taken every ``1/fps`` seconds,
    each turned upright as its display matrix says (``upright``).

    ``fps=None`` yields every frame. A frame is taken when its time reaches the next sampling
    time, so a variable frame rate is sampled by time, not by count. Raises
    ``VideoDecodeError`` (naming the file) when decoding fails part-way; the frames yielded
    before stay valid.
    """
    import av

    if fps is not None and fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    try:
        container = av.open(str(path))
    except av.FFmpegError as err:
        raise VideoDecodeError(f"{path}: cannot open video ({err})") from err
    with container:
        if not container.streams.video:
            raise VideoDecodeError(f"{path}: no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        start = None
        next_time = 0.0
        index = 0
        try:
            for index, frame in enumerate(container.decode(stream)):
                time = float(frame.time) if frame.time is not None else index / 25.0
                start = time if start is None else start
                time -= start
                if fps is None or time >= next_time - 1e-6:
                    yield index, time, upright(frame)
                    if fps is not None:
                        next_time = (np.floor(time * fps + 1e-6) + 1) / fps
        except av.FFmpegError as err:
            raise VideoDecodeError(f"{path}: decoding failed at frame {index} ({err})") from err


def write_video(
    frames: Iterator[np.ndarray] | list[np.ndarray], path: str | os.PathLike[str], fps: float
) -> Path:
    """Encode RGB uint8 frames as an H.264 MP4 (or MPEG-4 Part 2 in an ``.avi``)."""
    import av

    path = Path(path)
    codec = "mpeg4" if path.suffix.lower() == ".avi" else "libx264"
    with av.open(str(path), mode="w") as container:
        stream = None
        for frame in frames:
            if stream is None:
                stream = container.add_stream(codec, rate=round(fps))
                stream.height, stream.width = frame.shape[:2]
                stream.pix_fmt = "yuv420p"
                if codec == "libx264":
                    stream.options = {"crf": "18"}
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        if stream is not None:
            for packet in stream.encode():
                container.mux(packet)
    return path


__all__ = [
    "VIDEO_SUFFIXES",
    "VideoDecodeError",
    "VideoInfo",
    "is_video_file",
    "quarter_turns",
    "sample_frames",
    "upright",
    "video_info",
    "write_video",
]
