"""Shared pieces of the report commands (sweep, compare, analyze): files, crops, plots and HTML.

Plots use matplotlib's object API on an Agg canvas (no pyplot, no global backend switch), imported
only when a plot is drawn. HTML pages are self-contained apart from the images, written as PNG
files beside the page and linked by relative paths, so a report folder can be moved or zipped.
"""

from __future__ import annotations

import contextlib
import csv
import html
import io
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from esrgan.atomic import write_bytes_atomic, write_text_atomic
from esrgan.errors import ESRGANError
from esrgan.images.image_io import write_image
from esrgan.images.scaling import to_integer
from esrgan.metrics.table import format_value, metric

if TYPE_CHECKING:
    from matplotlib.figure import Figure

RANDOM_VGG_NOTICE = (
    "VGG19 has RANDOM weights (--random-vgg): these numbers are not the paper's VGG statistics; "
    "use them only to check that the command runs"
)


write_text = write_text_atomic


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(jsonable(obj), indent=2, allow_nan=False) + "\n")


def write_csv(path: str | os.PathLike, rows: Sequence[Mapping[str, Any]]) -> None:
    """Rows of dicts to CSV; columns in first-seen order, floats with 6 significant digits."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_value(row.get(k)) for k in columns})
    write_text(path, buffer.getvalue())


def write_png(path: str | os.PathLike, image: np.ndarray) -> None:
    """An HWC float [0, 1] or uint8 array as an 8-bit PNG (atomic)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_image(path, to_uint8(image))


def jsonable(obj: Any) -> Any:
    """NaN/inf become None (JSON has neither); numpy scalars become Python numbers."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _csv_value(value: Any) -> Any:
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.6g}"
    return "" if value is None else value


class CropBox(NamedTuple):
    top: int
    left: int
    height: int
    width: int


def to_uint8(image: np.ndarray) -> np.ndarray:
    """uint8, uint16 or float [0, 1] (clipped) HWC/HW array -> uint8 for display."""
    return to_integer(np.asarray(image), 8)


def cut(image: np.ndarray, box: CropBox) -> np.ndarray:
    return image[box.top : box.top + box.height, box.left : box.left + box.width]


def parse_crop(text: str) -> CropBox:
    """'LEFT,TOP,SIZE' or 'LEFT,TOP,WIDTH,HEIGHT' in HR pixels."""
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) not in (3, 4) or min(values) < 0 or min(values[2:]) < 1:
        raise ESRGANError(f"crop must be LEFT,TOP,SIZE or LEFT,TOP,WIDTH,HEIGHT in pixels, got {text!r}")
    left, top, width = values[:3]
    height = values[3] if len(values) == 4 else width
    return CropBox(top, left, height, width)


def fit_crop(box: CropBox, height: int, width: int) -> CropBox:
    """The box moved and clipped to lie inside a height x width image."""
    h, w = min(box.height, height), min(box.width, width)
    return CropBox(min(box.top, height - h), min(box.left, width - w), h, w)


def most_detailed_crop(image: np.ndarray, size: int) -> CropBox:
    """The size x size window with the most gradient energy (where SR methods differ most), searched
    with an integral image on a grid of step `size // 4`: cheap on 2K images."""
    grey = np.asarray(image, dtype=np.float64)
    if grey.ndim == 3:
        grey = grey.mean(axis=2)
    h, w = grey.shape
    size = max(1, min(size, h, w))
    energy = np.zeros_like(grey)
    energy[:, 1:] += np.abs(np.diff(grey, axis=1))
    energy[1:, :] += np.abs(np.diff(grey, axis=0))
    integral = np.pad(energy.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    step = max(1, size // 4)
    best, best_box = -1.0, CropBox(0, 0, size, size)
    for top in range(0, h - size + 1, step):
        for left in range(0, w - size + 1, step):
            b, r = top + size, left + size
            total = integral[b, r] - integral[top, r] - integral[b, left] + integral[top, left]
            if total > best:
                best, best_box = total, CropBox(top, left, size, size)
    return best_box


def draw_box(image: np.ndarray, box: CropBox, colour: tuple[int, int, int] = (255, 0, 0)) -> np.ndarray:
    """A uint8 copy of `image` with the outline of `box` drawn (2 px, inside the box)."""
    out = to_uint8(image).copy()
    if out.ndim == 2:
        out = np.repeat(out[:, :, None], 3, axis=2)
    t = max(1, min(out.shape[:2]) // 200)
    b, r = box.top + box.height, box.left + box.width
    for region in (
        (slice(box.top, box.top + t), slice(box.left, r)),
        (slice(b - t, b), slice(box.left, r)),
        (slice(box.top, b), slice(box.left, box.left + t)),
        (slice(box.top, b), slice(r - t, r)),
    ):
        out[region] = colour
    return out


def enlarge(image: np.ndarray, min_side: int) -> np.ndarray:
    """Nearest-neighbour enlargement by an integer factor so small crops are visible in a page."""
    factor = max(1, -(-min_side // max(1, min(image.shape[:2]))))
    return image if factor == 1 else image.repeat(factor, axis=0).repeat(factor, axis=1)


def new_figure(width: float, height: float) -> Figure:
    """A matplotlib Figure on an Agg canvas; no pyplot state, safe without a display."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ESRGANError("plots need matplotlib: pip install matplotlib (or 'esrgan[train]')") from None
    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: str | os.PathLike) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    write_bytes_atomic(path, buffer.getvalue())


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f2f2f2; } td.label { text-align: left; }
.grid { display: flex; flex-wrap: wrap; gap: 0.6em; align-items: flex-start; }
figure { margin: 0; text-align: center; font-size: 0.85em; }
figure img { image-rendering: pixelated; display: block; border: 1px solid #ccc; }
.notice { background: #fff3cd; border: 1px solid #e0c060; padding: 0.6em; font-weight: bold; }
.note { color: #555; font-size: 0.9em; }
"""


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def html_page(title: str, sections: Iterable[str], *, notices: Sequence[str] = ()) -> str:
    """A complete HTML document: title, optional warning boxes, then the given sections."""
    warning = "".join(f'<p class="notice">{esc(n)}</p>\n' for n in notices)
    body = "\n".join(sections)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{esc(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{esc(title)}</h1>\n{warning}{body}\n</body>\n</html>\n"
    )


def html_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """A table of dict rows: text left-aligned, metric columns with the digits of the metric table
    ("n/a" where not computed), other floats with 4 significant digits."""
    columns = list(columns or dict.fromkeys(k for row in rows for k in row))
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for c in columns:
            value = row.get(c)
            if _is_metric(c) and (value is None or isinstance(value, (float, np.floating))):
                cells.append(f"<td>{format_value(None if value is None else float(value), c)}</td>")
            elif isinstance(value, (float, np.floating)):
                cells.append(f"<td>{float(value):.4g}</td>")
            elif isinstance(value, (int, np.integer)) and not isinstance(value, bool):
                cells.append(f"<td>{value}</td>")
            else:
                cells.append(f'<td class="label">{esc("" if value is None else value)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table>\n<tr>{head}</tr>\n" + "\n".join(body) + "\n</table>"


def _is_metric(column: str) -> bool:
    with contextlib.suppress(KeyError):
        return bool(metric(column))
    return False


def html_figure(src: str, caption: str, *, width: int | None = None) -> str:
    size = f' width="{width}"' if width else ""
    lines = "<br>".join(esc(line) for line in caption.split("\n"))
    img = f'<img src="{esc(src)}" alt="{esc(caption)}"{size}>'
    return f"<figure>{img}<figcaption>{lines}</figcaption></figure>"
