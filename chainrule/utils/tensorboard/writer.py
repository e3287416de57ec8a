"""``SummaryWriter``: scalars, histograms and text for TensorBoard, as ``torch.utils.tensorboard``.

Each writer owns a log directory (default ``runs/<Mon DD_HH-MM-SS>_<hostname><comment>``,
PyTorch's) and writes one event file there with tensorboard's ``EventFileWriter``;
``add_scalars`` writes each of its curves into a sub-directory ``<main_tag>_<tag>``, so
that TensorBoard draws them in one chart, as PyTorch does.  Values may be chainrule
Tensors, NumPy arrays or Python numbers.
"""

from __future__ import annotations

import os
import socket
import time
from datetime import datetime
from typing import Any

import numpy as np
from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2
from tensorboard.compat.proto.summary_pb2 import HistogramProto
from tensorboard.plugins.text import metadata as text_metadata
from tensorboard.summary.writer.event_file_writer import EventFileWriter


def _as_array(value: Any) -> np.ndarray:
    """A Tensor, array or number as a NumPy array (detached: logging never touches the graph)."""
    data = getattr(value, "_array", None)
    if isinstance(data, np.ndarray):  # a chainrule Tensor
        return data
    return np.asarray(value)


def _scalar(where: str, value: Any) -> float:
    arr = _as_array(value)
    if arr.size != 1:
        raise ValueError(f"SummaryWriter.{where}: scalar_value should be a single number, got shape {tuple(arr.shape)}")
    return float(arr.reshape(()))


def _tensorflow_bins() -> np.ndarray:
    """TensorFlow's default histogram edges: +-1e-12 * 1.1**k up to 1e20, and 0 (PyTorch's bins='tensorflow')."""
    pos = 1e-12 * 1.1 ** np.arange(int(np.ceil(np.log(1e20 / 1e-12) / np.log(1.1))))
    return np.concatenate([-pos[::-1], [0.0], pos])


class SummaryWriter:
    """Write TensorBoard event files (``torch.utils.tensorboard.SummaryWriter``).

    Args:
        log_dir: the directory of this run (default ``runs/<date>_<hostname><comment>``).
        comment: appended to the default ``log_dir`` (ignored when ``log_dir`` is given).
        purge_step: steps >= purge_step of an earlier, crashed run in this directory are hidden.
        max_queue: events held in memory before a write to disk.
        flush_secs: seconds between flushes to disk.
        filename_suffix: appended to the event file's name.
    """

    def __init__(
        self,
        log_dir: str | os.PathLike | None = None,
        comment: str = "",
        purge_step: int | None = None,
        max_queue: int = 10,
        flush_secs: int = 120,
        filename_suffix: str = "",
    ) -> None:
        if log_dir is None:
            stamp = datetime.now().strftime("%b%d_%H-%M-%S")
            log_dir = os.path.join("runs", f"{stamp}_{socket.gethostname()}{comment}")
        self.log_dir = os.fspath(log_dir)
        self.purge_step = purge_step
        self.max_queue = max_queue
        self.flush_secs = flush_secs
        self.filename_suffix = filename_suffix
        self._writer: EventFileWriter | None = None
        self._scalars_writers: dict[str, EventFileWriter] = {}
        self._file_writer()  # PyTorch creates the directory and the file at once

    def get_logdir(self) -> str:
        """The directory the event files are written to."""
        return self.log_dir

    def _file_writer(self) -> EventFileWriter:
        if self._writer is None:
            self._writer = EventFileWriter(self.log_dir, self.max_queue, self.flush_secs, self.filename_suffix)
            if self.purge_step is not None:
                self._writer.add_event(
                    event_pb2.Event(
                        step=self.purge_step, session_log=event_pb2.SessionLog(status=event_pb2.SessionLog.START)
                    )
                )
                self.purge_step = None
        return self._writer

    @staticmethod
    def _event(summary: summary_pb2.Summary, global_step: int | None, walltime: float | None) -> event_pb2.Event:
        event = event_pb2.Event(summary=summary, wall_time=time.time() if walltime is None else walltime)
        if global_step is not None:
            event.step = int(global_step)
        return event

    def add_scalar(
        self,
        tag: str,
        scalar_value: Any,
        global_step: int | None = None,
        walltime: float | None = None,
        new_style: bool = False,
        double_precision: bool = False,
    ) -> None:
        """Log one number (a float, a 0-d or one-element Tensor) under ``tag`` at ``global_step``.

        Written as the summary's ``simple_value`` (a float32), as PyTorch's default
        (``new_style=False``); ``new_style=True`` writes a tensor summary instead.
        """
        value = _scalar("add_scalar", scalar_value)
        if new_style:
            dtype, field = (
                (types_pb2.DT_DOUBLE, "double_val") if double_precision else (types_pb2.DT_FLOAT, "float_val")
            )
            tensor = tensor_pb2.TensorProto(dtype=dtype, tensor_shape=tensor_shape_pb2.TensorShapeProto())
            getattr(tensor, field).append(value)
            meta = summary_pb2.SummaryMetadata(
                plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")
            )
            summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, tensor=tensor, metadata=meta)])
        else:
            summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])
        self._file_writer().add_event(self._event(summary, global_step, walltime))

    def add_scalars(
        self,
        main_tag: str,
        tag_scalar_dict: dict[str, Any],
        global_step: int | None = None,
        walltime: float | None = None,
    ) -> None:
        """Log several curves in one chart: ``tag_scalar_dict[tag]`` goes to ``<log_dir>/<main_tag>_<tag>``."""
        walltime = time.time() if walltime is None else walltime
        for tag, value in tag_scalar_dict.items():
            sub = os.path.join(self.log_dir, main_tag.replace("/", "_") + "_" + tag)
            writer = self._scalars_writers.get(sub)
            if writer is None:
                writer = EventFileWriter(sub, self.max_queue, self.flush_secs, self.filename_suffix)
                self._scalars_writers[sub] = writer
            summary = summary_pb2.Summary(
                value=[summary_pb2.Summary.Value(tag=main_tag, simple_value=_scalar("add_scalars", value))]
            )
            writer.add_event(self._event(summary, global_step, walltime))

    def add_histogram(
        self,
        tag: str,
        values: Any,
        global_step: int | None = None,
        bins: Any = "tensorflow",
        walltime: float | None = None,
        max_bins: int | None = None,
    ) -> None:
        """Log the histogram of ``values`` (any shape; flattened).

        ``bins``: "tensorflow" (TensorFlow's default exponential edges, PyTorch's default)
        or anything ``numpy.histogram`` accepts ("auto", "fd", an int, edges).  Empty
        buckets at both ends are left out, as PyTorch does; ``max_bins`` merges groups
        of ``n_buckets // max_bins`` neighbours (PyTorch's rule).
        """
        x = _as_array(values).astype(np.float64).reshape(-1)
        if x.size == 0:
            raise ValueError(f"SummaryWriter.add_histogram: the histogram of {tag!r} is empty (no values)")
        if not np.isfinite(x).all():
            raise ValueError(f"SummaryWriter.add_histogram: {tag!r} has NaN or infinite values")
        edges = _tensorflow_bins() if isinstance(bins, str) and bins == "tensorflow" else bins
        counts, limits = np.histogram(x, bins=edges)
        if max_bins is not None and counts.size > max_bins:  # merge groups of neighbours, as PyTorch does
            group = counts.size // max_bins
            pad = -counts.size % group
            counts = np.pad(counts, (0, pad)).reshape(-1, group).sum(1)
            limits = np.concatenate([limits[:-1:group], limits[-1:]])
        # drop empty buckets at both ends, but keep one empty bucket before the first full one:
        # its limit is where the data start (TensorBoard's convention, PyTorch's output)
        nonzero = np.flatnonzero(counts)
        first, last = int(nonzero[0]), int(nonzero[-1]) + 1
        counts = np.concatenate([[0], counts[first:last]])
        limits = limits[first : last + 1]
        hist = HistogramProto(
            min=float(x.min()),
            max=float(x.max()),
            num=int(x.size),
            sum=float(x.sum()),
            sum_squares=float(np.dot(x, x)),
            bucket_limit=limits.tolist(),  # right edge of each bucket
            bucket=counts.astype(np.float64).tolist(),
        )
        summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, histo=hist)])
        self._file_writer().add_event(self._event(summary, global_step, walltime))

    def add_text(
        self, tag: str, text_string: str, global_step: int | None = None, walltime: float | None = None
    ) -> None:
        """Log a (Markdown) string; TensorBoard shows it under ``<tag>/text_summary`` in its Text tab."""
        meta = text_metadata.create_summary_metadata(display_name=None, description=None)
        tensor = tensor_pb2.TensorProto(
            dtype=types_pb2.DT_STRING,
            string_val=[str(text_string).encode("utf-8")],
            tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=1)]),
        )
        value = summary_pb2.Summary.Value(tag=tag + "/text_summary", metadata=meta, tensor=tensor)
        self._file_writer().add_event(self._event(summary_pb2.Summary(value=[value]), global_step, walltime))

    def flush(self) -> None:
        """Write everything pending to disk."""
        for w in [self._writer, *self._scalars_writers.values()]:
            if w is not None:
                w.flush()

    def close(self) -> None:
        """Flush and close the event files; a later add_* opens a new file in the same directory."""
        for w in [self._writer, *self._scalars_writers.values()]:
            if w is not None:
                w.flush()
                w.close()
        self._writer = None
        self._scalars_writers = {}

    def __enter__(self) -> SummaryWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
