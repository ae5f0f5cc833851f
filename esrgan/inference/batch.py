"""Upscale a batch of image files: collect, plan and check everything, then read -> upscale -> write.

What would destroy data or make the whole batch fail is refused before the first image is
upscaled, with one ESRGANError:

- an output that would land on an input of the same run (after resolving symlinks and `..`;
  hard links and case-insensitive names are caught by comparing the files themselves), or two
  inputs that would write the same output;
- an output that exists, unless `existing` is "overwrite" or "skip" (resume a batch);
- an output too large for the memory available (or `max_output_pixels`);
- no model, an unreadable model, an output folder that cannot be written.

Problems of one file (unreadable, truncated, animated without `frames`) fail that file only; the
others are still written, and the result lists each failure. The output folder is created when
the first output is written, so a refused run leaves nothing behind.
"""

from __future__ import annotations

import glob
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import esrgan
from esrgan.atomic import make_folders, remove_if_empty
from esrgan.errors import ESRGANError
from esrgan.images.image_io import IMAGE_EXTENSIONS, read_header, read_pixels, write_image
from esrgan.inference.choices import BACKENDS, EXISTING, FRAMES, OUTPUT_FORMATS
from esrgan.inference.denoise import check_denoise
from esrgan.inference.engine import on_engine
from esrgan.inference.job_model import load_job_model, resolve_job_device
from esrgan.inference.upscale import check_output_size
from esrgan.models.descriptor import describe

log = logging.getLogger(__name__)

WRITABLE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp"}
GLOB_CHARS = set("*?[")


@dataclass
class UpscaleJob:
    """Everything `esrgan upscale` is asked to do; the same fields a web form or script would fill."""

    inputs: list[str]  # files, folders (their images, not recursive) or globs
    output: str | Path  # output folder
    model: str | None = "builtin"  # a checkpoint path or a model name (`esrgan models`)
    psnr_model: str | None = None  # with alpha: blend with the PSNR-oriented model
    offline: bool = False  # refuse to download a named model that is not cached
    alpha: float | None = None
    interpolation: str = "network"  # or "image"
    denoise: float | None = None  # blend realesr-general-x4v3 with its wdn twin (inference.denoise)
    ensemble: bool = False
    back_projection: int = 0
    outscale: float | None = None
    ext: str = "auto"  # output format; auto: the input's
    quality: int = 95
    tile: int | str | None = "auto"
    tile_overlap: int | None = None
    prepad: int = 0  # mirrored LR border (realesrgan-ncnn-vulkan: 10); see esrgan.upscale
    precision: str = "fp32"  # fp32 | fp16 | bf16 | int8
    device: str = "auto"  # also vulkan / vulkan:N: ncnn on a Vulkan GPU
    backend: str | None = "auto"  # auto | torch | ncnn | onnx; None: run the model as it is
    alpha_upsampler: str = "model"
    existing: str = "refuse"  # an output that exists: refuse the run, overwrite it, or skip it
    frames: str = "error"  # animations / multi-page files: refuse, first frame only, every frame
    max_output_pixels: int | None = None  # default: what fits in the RAM available


@dataclass(frozen=True)
class Task:
    """One output to write: `frame` of `source` (None: a still image) into `target`."""

    source: Path
    target: Path
    frame: int | None
    header: Any  # esrgan.images.image_io.ImageHeader: size, channels, bit depth


@dataclass
class BatchResult:
    output: Path
    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)  # outputs that existed and were kept
    failures: list[tuple[Path, str]] = field(default_factory=list)
    seconds: float = 0.0

    def failure_lines(self) -> list[str]:
        texts = (m if m.startswith(str(path)) else f"{path}: {m}" for path, m in self.failures)
        return [" ".join(text.split()) for text in texts]

    def summary(self) -> str:
        kept = f"{len(self.skipped)} skipped (output exists), " if self.skipped else ""
        return (
            f"upscaled {len(self.written)} image(s) into {self.output}, {kept}"
            f"{len(self.failures)} failed, in {self.seconds:.1f} s"
        )

    @property
    def exit_code(self) -> int:
        return 1 if self.failures else 0


def check_options(job: UpscaleJob) -> None:
    """The job's own values, checked once (the command line checks most of them while parsing)."""
    if not 1 <= job.quality <= 100:
        raise ESRGANError(f"--quality must be 1..100, not {job.quality}")
    choices = {"existing": EXISTING, "frames": FRAMES, "ext": OUTPUT_FORMATS, "backend": BACKENDS}
    for name, allowed in choices.items():
        if getattr(job, name) not in allowed:
            flag = "--skip-existing/--force" if name == "existing" else f"--{name}"
            raise ESRGANError(f"{flag} must be one of {', '.join(allowed)}, not {getattr(job, name)!r}")
    check_denoise(job.model, job.denoise, blending=job.alpha is not None or bool(job.psnr_model))


def run_job(job: UpscaleJob, *, progress: bool = False) -> BatchResult:
    """Check the whole job, then upscale every planned output; per-file failures are collected."""
    check_options(job)
    device, vulkan = resolve_job_device(job)

    outdir = Path(job.output)
    check_output_folder(outdir)
    inputs, failures = collect_inputs(job.inputs)
    if not inputs and not failures:
        raise ESRGANError("no input images found")
    headers, failures = probe_inputs(inputs, job.frames, failures)
    result = BatchResult(outdir, failures=failures)
    if not headers:
        return result
    model = load_job_model(job, device, vulkan)
    desc = describe(model)
    scale = job.outscale if job.outscale is not None else desc.scale
    tasks = plan_tasks(headers, outdir, scale, job.ext, job.frames)
    check_not_inputs(tasks, inputs)
    tasks, result.skipped = check_existing(tasks, job.existing)
    check_sizes(tasks, desc.scale, job.outscale, job.max_output_pixels)
    # The engine is chosen (for auto: probed or read from its cache) and the model converted once.
    work = sum(task.header.height * task.header.width for task in tasks)
    model, options = on_engine(model, upscale_options(job, vulkan or device), work)
    start = time.perf_counter()
    _run_tasks(model, tasks, job, options, result, progress)
    result.seconds = time.perf_counter() - start
    return result


def collect_inputs(specs: list[str]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Files as given, images inside folders (sorted, not recursive), glob matches (sorted)."""
    found: list[Path] = []
    failures: list[tuple[Path, str]] = []
    for spec in specs:
        path = Path(spec)
        if path.is_dir():
            found.extend(
                sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
            )
        elif path.exists() or not GLOB_CHARS & set(spec):
            found.append(path)  # a missing file is reported when its header is read
        else:
            matches = sorted(Path(p) for p in glob.glob(spec) if os.path.isfile(p))
            if not matches:
                failures.append((path, "no files match this pattern"))
            found.extend(matches)
    return list(dict.fromkeys(found)), failures


def probe_inputs(
    inputs: list[Path], frames: str, failures: list[tuple[Path, str]]
) -> tuple[list[tuple[Path, Any]], list[tuple[Path, str]]]:
    """Read every header (size, frame count) up front; unreadable and refused files become failures."""
    headers = []
    failures = list(failures)
    for path in inputs:
        try:
            header = read_header(path)
        except ESRGANError as exc:
            failures.append((path, str(exc)))
            continue
        if header.frames > 1 and frames == "error":
            why = f"has {header.frames} frames: pass --frames first or --frames all (NAME_f0001...)"
            failures.append((path, why))
            continue
        headers.append((path, header))
    return headers, failures


def output_name(path: Path, scale: float, ext: str, frame: int | None = None) -> str:
    """`<stem>_x<scale>.<ext>` (x4 for integral scales, x2.5 otherwise); frames: `<stem>_f0001_x4.<ext>`."""
    label = str(int(scale)) if float(scale).is_integer() else f"{scale:g}"
    suffix = path.suffix.lower() if ext == "auto" else f".{ext}"
    if suffix not in WRITABLE_EXTENSIONS:
        suffix = ".png"
    stem = path.stem if frame is None else f"{path.stem}_f{frame + 1:04d}"
    return f"{stem}_x{label}{suffix}"


def plan_tasks(
    headers: list[tuple[Path, Any]], outdir: Path, scale: float, ext: str, frames: str = "error"
) -> list[Task]:
    """One task per output; two inputs that would write the same file are refused.

    A multi-frame input gives one task for its first frame (`frames="first"`, named like a still
    image) or one per frame (`frames="all"`, `NAME_f0001_x4.png`, ...).
    """
    tasks: list[Task] = []
    by_target: dict[str, Path] = {}
    for path, header in headers:
        if header.frames == 1:
            picks: list[int | None] = [None]
        elif frames == "all":
            picks = list(range(header.frames))
        else:
            picks = [0]
            log.warning("%s: has %d frames; upscaling only the first (--frames first)", path, header.frames)
        for frame in picks:
            named = frame if frames == "all" else None
            target = outdir / output_name(path, scale, ext, named)
            key = _identity_key(target)
            if key in by_target and by_target[key] != path:
                raise ESRGANError(
                    f"{path} and {by_target[key]} would both be written to {target}; "
                    "upscale them into different folders or with different --ext"
                )
            by_target[key] = path
            tasks.append(Task(path, target, frame, header))
    return tasks


def _identity_key(path: Path) -> str:
    return os.path.normcase(os.path.realpath(path))


def _file_id(path: Path) -> tuple[int, int] | None:
    """(device, inode): hard links and case-insensitive names are one file; None for no file."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def check_not_inputs(tasks: list[Task], inputs: list[Path]) -> None:
    """Refuse the run if any output would land on an input (same path, or the same file)."""
    names = {_identity_key(path): path for path in inputs}
    files = {_file_id(path): path for path in inputs}
    files.pop(None, None)  # missing inputs fail on their own
    for task in tasks:
        clash = names.get(_identity_key(task.target)) or files.get(_file_id(task.target))
        if clash is not None:
            same = os.path.normpath(clash) == os.path.normpath(task.target)
            where = "" if same else f" (as {task.target})"
            raise ESRGANError(
                f"the output for {task.source} would overwrite the input {clash}{where}; "
                "write the outputs into another folder (-o)"
            )


def check_existing(tasks: list[Task], existing: str) -> tuple[list[Task], list[Path]]:
    """(tasks to run, outputs kept). Existing outputs refuse the run unless overwrite or skip."""
    present = [t for t in tasks if os.path.lexists(t.target)]
    if present and existing == "refuse":
        more = f" (and {len(present) - 1} more)" if len(present) > 1 else ""
        raise ESRGANError(f"{present[0].target} exists{more}: --force overwrites, --skip-existing keeps it")
    if existing == "skip":
        kept = {t.target for t in present}
        return [t for t in tasks if t.target not in kept], [t.target for t in present]
    for task in present:
        if os.path.isdir(task.target):
            raise ESRGANError(f"{task.target} is a folder; it cannot be replaced by an image")
    return tasks, []


def check_sizes(tasks: list[Task], scale: int, outscale: float | None, limit: int | None) -> None:
    """Refuse the run if any output would not fit in memory (or exceeds max_output_pixels)."""
    for task in tasks:  # from the header (esrgan.upscale checks the decoded image again)
        h = task.header
        try:
            check_output_size(h.height, h.width, h.channels, h.bytes_per_sample, scale, outscale, limit)
        except ESRGANError as exc:
            raise ESRGANError(f"{task.source}: {exc}") from None


def check_output_folder(path: Path) -> None:
    """Prove the output folder can be created and written, leaving nothing behind."""
    target = Path(os.path.abspath(path))
    existing = next(p for p in (target, *target.parents) if p.exists())  # "/" at the latest
    if not existing.is_dir():
        why = "exists and is not a folder" if existing == target else f"cannot be made: {existing} is a file"
        raise ESRGANError(f"output folder {path} {why}")
    created = make_folders(target)  # other failures (permissions) are a one-line ESRGANError too
    try:
        probe = target / f".esrgan-write-test-{os.getpid()}"
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.unlink(probe)
    except OSError as exc:
        raise ESRGANError(f"cannot write into output folder {path} ({exc.strerror or exc})") from None
    finally:
        remove_if_empty(created)


def upscale_options(job: UpscaleJob, device: Any) -> dict[str, Any]:
    """The job's keywords for `esrgan.upscale` (images) and `upscale_video` (videos)."""
    names = ("tile", "tile_overlap", "prepad", "outscale", "precision", "max_output_pixels", "backend")
    return {**{n: getattr(job, n) for n in names}, "device": device, "alpha": job.alpha_upsampler}


def _run_tasks(
    model: Any, tasks: list[Task], job: UpscaleJob, kw: dict[str, Any], result: BatchResult, progress: bool
) -> None:
    from tqdm import tqdm

    hide = None if progress else True  # None: tqdm shows the bars on a terminal only
    images = tqdm(tasks, unit="image", disable=hide, dynamic_ncols=True)
    tiles = tqdm(total=0, unit="tile", leave=False, disable=hide, position=1, dynamic_ncols=True)
    try:
        for task in images:
            images.set_postfix_str(task.source.name)
            try:
                upscale_file(model, task, job, kw, tiles)
                result.written.append(task.target)
            except ESRGANError as exc:
                result.failures.append((task.source, str(exc)))
            except MemoryError:
                result.failures.append((task.source, "not enough memory for this image"))
    finally:
        tiles.close()
        images.close()


def upscale_file(model: Any, task: Task, job: UpscaleJob, options: dict[str, Any], bar: Any = None) -> None:
    """Read one input (or one of its frames), upscale it (`options`: esrgan.upscale's), write it."""
    data = read_pixels(task.source, frame=task.frame or 0)
    pixels = data.stacked()
    data.pixels = data.alpha = None  # type: ignore[assignment]  # free the decoded copy early

    def on_tiles(done: int, total: int) -> None:
        if bar.total != total or done < bar.n:
            bar.reset(total=total)
        bar.update(done - bar.n)

    out = esrgan.upscale(model, pixels, **options, progress=on_tiles if bar is not None else False)
    make_folders(task.target.parent)
    write_image(task.target, out, bit_depth=data.bit_depth, quality=job.quality, icc_profile=data.icc_profile)
