"""`esrgan upscale clip.mp4`: timing, audio, colour, frame parity with the image path, bad input.

Clips are made here with PyAV (tests/video_clips.py): 32x24, a dozen frames with a moving square,
a 440 Hz tone. Expected values come from the input clip and from the image path run on frame k.
"""

from __future__ import annotations

import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

av = pytest.importorskip("av")

import esrgan  # noqa: E402
from esrgan.cli.main import main  # noqa: E402
from esrgan.inference import video as video_module  # noqa: E402
from esrgan.inference.video import VideoOptions  # noqa: E402
from tests.backend_models import textured_rrdbnet  # noqa: E402
from tests.test_upscale_cli import identity_rrdbnet  # noqa: E402
from tests.video_clips import make_clip, moving_frames  # noqa: E402

FRAMES = 12
LOSSLESS_RGB = ["--codec", "ffv1", "--pix-fmt", "bgr0", "--container", "mkv"]


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "tiny_x4.pth"
    esrgan.save_model(textured_rrdbnet(4), path)
    return path


@pytest.fixture(scope="module")
def nearest_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "nearest_x4.pth"
    esrgan.save_model(identity_rrdbnet(), path)
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    make_clip(path, moving_frames(FRAMES))
    return path


def cli(capsys, *args) -> tuple[int, str, str]:
    rc = main(["upscale", *map(str, args)])
    out, err = capsys.readouterr()
    return rc, out, err


def probe(path: Path) -> dict:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        info = {"rate": v.average_rate, "duration": c.duration, "size": (v.width, v.height)}
        info["colour"] = (int(v.codec_context.colorspace), int(v.codec_context.color_range))
    with av.open(str(path)) as c:
        audio = [f.to_ndarray() for f in c.decode(audio=0)] if c.streams.audio else []
    info["frames"], info["audio"] = frames, np.concatenate(audio, axis=1) if audio else None
    return info


def test_video_keeps_rate_count_duration_and_audio(tmp_path, capsys, clip, model_path, monkeypatch):
    monkeypatch.setattr(video_module, "PLAIN_PROGRESS_SECONDS", 0.0)  # a line per frame (not a TTY)
    rc, out, err = cli(capsys, clip, "-o", tmp_path / "out", "-m", model_path)
    assert rc == 0, err
    result, source = probe(tmp_path / "out" / "clip_x4.mp4"), probe(clip)
    assert len(result["frames"]) == len(source["frames"]) == FRAMES
    assert result["rate"] == source["rate"] == 25
    assert result["duration"] == source["duration"]
    assert result["size"] == (128, 96)
    assert np.array_equal(result["audio"], source["audio"])  # copied packets decode to the same samples
    assert f"esrgan upscale: clip.mp4: {FRAMES}/{FRAMES} frames" in err and "ETA" in err
    assert not list((tmp_path / "out").glob("*partial*"))


@pytest.mark.parametrize("extra", [[], ["--backend", "onnx", "--tile", "32"], ["--outscale", "2"]])
def test_frame_k_matches_the_image_path(tmp_path, capsys, model_path, extra):
    frames = moving_frames(6)
    source = tmp_path / "clip.mkv"
    make_clip(source, frames, codec="ffv1", pix_fmt="bgr0", tone_hz=None)  # lossless RGB in
    rc, _, err = cli(capsys, source, "-o", tmp_path / "v", "-m", model_path, *LOSSLESS_RGB, *extra)
    assert rc == 0, err
    decoded = probe(tmp_path / "v" / ("clip_x2.mkv" if extra[-1:] == ["2"] else "clip_x4.mkv"))["frames"]
    for k in (0, 4):
        Image.fromarray(frames[k]).save(tmp_path / f"frame{k}.png")
        rc, _, err = cli(capsys, tmp_path / f"frame{k}.png", "-o", tmp_path / "img", "-m", model_path, *extra)
        assert rc == 0, err
        image = np.asarray(Image.open(next((tmp_path / "img").glob(f"frame{k}_x*.png"))))
        assert decoded[k].shape == image.shape
        assert np.abs(decoded[k].astype(int) - image).max() <= 1  # ffv1 bgr0: lossless


def _bt709_yuv(rgb: np.ndarray, full: bool) -> np.ndarray:
    """BT.709 Y'CbCr planes (3, H, W) from RGB by the formula (Rec. ITU-R BT.709-6, table 3)."""
    r, g, b = (rgb[..., i] / 255.0 for i in range(3))
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    cb, cr = (b - y) / 1.8556, (r - y) / 1.5748
    if full:
        planes = [255 * y, 128 + 255 * cb, 128 + 255 * cr]
    else:
        planes = [16 + 219 * y, 128 + 224 * cb, 128 + 224 * cr]
    return np.clip(np.round(np.stack(planes)), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("full", [False, True], ids=["limited", "full"])
def test_bt709_pattern_stays_bt709(tmp_path, capsys, nearest_path, full):
    bars = np.array(
        [[255, 255, 255], [255, 255, 0], [0, 255, 255], [0, 255, 0], [255, 0, 255], [255, 0, 0], [0, 0, 255]],
        np.uint8,
    )
    rgb = np.repeat(np.repeat(bars[None], 16, axis=0), 4, axis=1)  # 7 bars of 4x16 px
    planes = _bt709_yuv(rgb, full)
    source = tmp_path / "bars.mkv"
    c = av.open(str(source), "w")
    s = c.add_stream("ffv1", rate=25)
    s.width, s.height, s.pix_fmt = 28, 16, "yuv444p"
    s.codec_context.colorspace, s.codec_context.color_range = 1, 2 if full else 1
    for k in range(3):
        frame = av.VideoFrame.from_ndarray(planes, format="yuv444p")
        frame.pts = k
        for p in s.encode(frame):
            c.mux(p)
    for p in s.encode(None):
        c.mux(p)
    c.close()
    args = ["--codec", "ffv1", "--pix-fmt", "yuv444p", "--container", "mkv"]
    rc, _, err = cli(capsys, source, "-o", tmp_path / "out", "-m", nearest_path, *args)
    assert rc == 0, err
    with av.open(str(tmp_path / "out" / "bars_x4.mkv")) as c:
        ctx = c.streams.video[0].codec_context
        assert (int(ctx.colorspace), int(ctx.color_range)) == (1, 2 if full else 1)
        out = next(c.decode(video=0)).to_ndarray()
    expected = np.repeat(np.repeat(planes, 4, axis=1), 4, axis=2)  # the model is nearest x4
    assert np.abs(out.astype(int) - expected).max() <= 2  # RGB rounding; BT.601 would be off by 10+


def test_frame_sequence_with_fps(tmp_path, capsys, model_path):
    folder = tmp_path / "shots"
    folder.mkdir()
    for k, rgb in enumerate(moving_frames(10)):
        Image.fromarray(rgb).save(folder / f"shot_{k + 1}.png")  # unpadded: 10 sorts after 9
    rc, _, err = cli(capsys, folder, "--fps", "30000/1001", "-o", tmp_path / "out", "-m", model_path)
    assert rc == 0, err
    result = probe(tmp_path / "out" / "shots_x4.mp4")
    assert result["rate"] == Fraction(30000, 1001) and len(result["frames"]) == 10
    assert result["duration"] == pytest.approx(10 * 1001 / 30000 * 1e6, abs=1000)
    # The square moves right over time: frame order kept (natural sort).
    columns = [np.argmax(f[..., 2].astype(int).sum(axis=0) < 100 * f.shape[0]) for f in result["frames"]]
    assert columns == sorted(columns)


def test_frames_out_and_resume(tmp_path, capsys, clip, model_path):
    frames_dir = tmp_path / "frames"
    rc, _, err = cli(capsys, clip, "--frames-out", frames_dir, "-m", model_path)
    assert rc == 0, err
    written = sorted(frames_dir.glob("clip_*.png"))
    assert len(written) == FRAMES and Image.open(written[0]).size == (128, 96)
    rc, _, err = cli(capsys, clip, "--frames-out", frames_dir, "-m", model_path)
    assert rc == 2 and "exists" in err and len(err.strip().splitlines()) == 1
    written[-1].unlink()
    rc, _, err = cli(capsys, clip, "--frames-out", frames_dir, "-m", model_path, "--skip-existing")
    assert rc == 0 and len(list(frames_dir.glob("clip_*.png"))) == FRAMES


def test_existing_output_refused_skipped_or_replaced(tmp_path, capsys, clip, model_path):
    out = tmp_path / "out"
    assert cli(capsys, clip, "-o", out, "-m", model_path)[0] == 0
    target = out / "clip_x4.mp4"
    target.write_bytes(b"keep me")
    rc, _, err = cli(capsys, clip, "-o", out, "-m", model_path)
    assert rc == 2 and "--force" in err and len(err.strip().splitlines()) == 1
    rc, stdout, _ = cli(capsys, clip, "-o", out, "-m", model_path, "--skip-existing")
    assert rc == 0 and "skipped" in stdout and target.read_bytes() == b"keep me"
    assert cli(capsys, clip, "-o", out, "-m", model_path, "--force")[0] == 0
    assert len(probe(target)["frames"]) == FRAMES


@pytest.mark.parametrize(("choice", "size"), [("pad", (16, 12)), ("crop", (14, 10))])
def test_odd_output_size(tmp_path, capsys, model_path, choice, size):
    source = tmp_path / "small.mp4"
    make_clip(source, moving_frames(4, 22, 30), tone_hz=None)
    args = ["--outscale", "0.5", "--odd-size", choice]  # 30x22 -> 15x11: yuv420p needs even sizes
    rc, _, err = cli(capsys, source, "-o", tmp_path / "out", "-m", model_path, *args)
    assert rc == 0, err
    assert "odd" in err
    assert probe(tmp_path / "out" / "small_x0.5.mp4")["size"] == size


def test_interrupt_leaves_a_playable_partial(tmp_path, clip, model_path):
    def stop_at(done: int, total: int) -> None:
        if done == 5:
            raise KeyboardInterrupt

    target = tmp_path / "clip_x4.mp4"
    with pytest.raises(KeyboardInterrupt):
        esrgan.upscale_video(esrgan.load_model(str(model_path)), str(clip), str(target), progress=stop_at)
    assert not target.exists()
    partial = tmp_path / "clip_x4.partial.mp4"
    assert len(probe(partial)["frames"]) == 5


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="the system ffmpeg adds the subtitle track")
def test_subtitles_copied(tmp_path, capsys, model_path):
    plain = tmp_path / "plain.mkv"
    make_clip(plain, moving_frames(6))
    (tmp_path / "subs.srt").write_text("1\n00:00:00,000 --> 00:00:00,200\nhello\n")
    source = tmp_path / "clip.mkv"
    cmd = ["ffmpeg", "-v", "error", "-i", plain, "-i", tmp_path / "subs.srt", "-map", "0", "-map", "1"]
    subprocess.run([*map(str, cmd), "-c", "copy", str(source)], check=True)
    rc, _, err = cli(capsys, source, "-o", tmp_path / "out", "-m", model_path)
    assert rc == 0, err
    target = tmp_path / "out" / "clip_x4.mkv"  # mp4 cannot hold SubRip: mkv chosen

    def subtitle_packets(path: Path) -> list[bytes]:
        with av.open(str(path)) as c:
            return [bytes(p) for p in c.demux(c.streams.subtitles[0]) if p.size]

    assert subtitle_packets(target) == subtitle_packets(source) == [b"hello"]


# --- bad input: one line, exit != 0, nothing under the output name -------------------------------


def _junk(tmp_path: Path) -> Path:
    path = tmp_path / "junk.mp4"
    path.write_bytes(b"not a video " * 50)
    return path


def _truncated(tmp_path: Path) -> Path:
    whole = tmp_path / "whole.mkv"
    make_clip(whole, moving_frames(FRAMES, 48, 64), codec="ffv1", tone_hz=None)
    data = whole.read_bytes()
    path = tmp_path / "cut.mkv"
    path.write_bytes(data[: len(data) // 2])
    return path


def _unknown_codec(tmp_path: Path) -> Path:
    path = tmp_path / "odd.mp4"
    make_clip(path, moving_frames(4), tone_hz=None)
    path.write_bytes(path.read_bytes().replace(b"avc1", b"zzzz").replace(b"avcC", b"zzzC"))
    return path


def _audio_only(tmp_path: Path) -> Path:
    path = tmp_path / "sound.mp4"
    c = av.open(str(path), "w")
    s = c.add_stream("aac", rate=48000)
    frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
    frame.sample_rate, frame.pts = 48000, 0
    for p in [*s.encode(frame), *s.encode(None)]:
        c.mux(p)
    c.close()
    return path


def _frames_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "frames"
    folder.mkdir()
    Image.fromarray(moving_frames(1)[0]).save(folder / "f1.png")
    return folder


@pytest.mark.parametrize(
    ("make", "extra", "message"),
    [
        (_junk, [], "not a readable"),
        (_audio_only, [], "no video stream"),
        (_truncated, [], "truncated"),
        (_unknown_codec, [], "cannot be decoded"),
        (_frames_folder, ["--fps", "0"], "more than 0"),
    ],
    ids=["not-a-video", "no-video-stream", "truncated", "unknown-codec", "fps-0"],
)
def test_bad_input(tmp_path, capsys, model_path, make, extra, message):
    source = make(tmp_path)
    out = tmp_path / "out"
    rc, _, err = cli(capsys, source, "-o", out, "-m", model_path, *extra)
    assert rc != 0
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert not out.exists() or not any(out.iterdir())


def test_unwritable_output_folder(tmp_path, capsys, clip, model_path):
    (tmp_path / "file").write_text("x")
    rc, _, err = cli(capsys, clip, "-o", tmp_path / "file" / "out", "-m", model_path)
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "output folder" in err


def test_python_api_frames_out(tmp_path, clip):
    model = textured_rrdbnet(4)
    result = esrgan.upscale_video(model, str(clip), options=VideoOptions(frames_out=tmp_path / "f"))
    assert result.frames == FRAMES and len(list((tmp_path / "f").glob("*.png"))) == FRAMES
    assert result.upscale_seconds > 0 and result.decode_seconds > 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--codec", "nosuch"], "unknown video encoder"),
        (["--codec", "ffv1", "--crf", "10"], "--crf applies to"),
        (["--codec", "libx264", "--pix-fmt", "bgr0"], "cannot write bgr0"),
        (["--fps", "25"], "--fps is for folders"),
        (["--tile", "32", "--tile-overlap", "32"], "overlap"),  # checked before any frame, as for images
    ],
)
def test_bad_video_options(tmp_path, capsys, clip, model_path, extra, message):
    rc, _, err = cli(capsys, clip, "-o", tmp_path / "out", "-m", model_path, *extra)
    assert rc == 2 and len(err.strip().splitlines()) == 1 and message in err, err
    assert not (tmp_path / "out").exists()


def test_videos_and_images_are_not_mixed(tmp_path, capsys, clip, model_path):
    Image.fromarray(moving_frames(1)[0]).save(tmp_path / "still.png")
    rc, _, err = cli(capsys, clip, tmp_path / "still.png", "-o", tmp_path / "out", "-m", model_path)
    assert rc == 2 and "separate runs" in err


def test_sigterm_finishes_a_playable_partial(tmp_path, model_path):
    import os
    import signal
    import sys
    import time

    source = tmp_path / "long.mp4"
    make_clip(source, moving_frames(400, 48, 64), tone_hz=None)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    cmd = [sys.executable, "-m", "esrgan", "upscale", str(source), "-o", str(out), "-m", str(model_path)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    partial = out / "long_x4.partial.mp4"
    deadline = time.monotonic() + 60
    while not partial.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert not (out / "long_x4.mp4").exists()
    assert 1 <= len(probe(partial)["frames"]) < 400
