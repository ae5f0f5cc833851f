"""The upscale app's HTTP API (`esrgan serve`), through FastAPI's TestClient.

Results are checked against independent computations: a checkpoint that is exactly
nearest-neighbour x4 upsampling (so downloads are known pixel for pixel), and `esrgan.interpolate`
(a float64 copy-and-blend) for the slider's in-place blend. Bad uploads, path-traversal attempts,
failing jobs, the queue order and the request limits are covered too.
"""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import esrgan
from esrgan.models.rrdbnet import RRDBNet, init_near_identity
from tests.png_craft import encode_png, huge_header_png
from tests.test_upscale_cli import identity_rrdbnet

fastapi = pytest.importorskip("fastapi", reason="the web extra is not installed: pip install -e '.[web]'")
from fastapi.testclient import TestClient  # noqa: E402

from esrgan.models.hub import available_models  # noqa: E402
from esrgan.web.app import create_app  # noqa: E402
from esrgan.web.jobs import JobQueue  # noqa: E402

RNG = np.random.default_rng(12)


def repeat(a: np.ndarray, s: int = 4) -> np.ndarray:
    return np.repeat(np.repeat(a, s, axis=0), s, axis=1)


def make_models(folder: Path) -> Path:
    """nearest.pth (exact x4 nearest neighbour), psnr.pth and sub/gan.pth (a pair to interpolate)."""
    torch.manual_seed(0)
    folder.mkdir(parents=True, exist_ok=True)
    esrgan.save_model(identity_rrdbnet(), folder / "nearest.pth")
    psnr = RRDBNet(3, 3, 4, num_feat=8, num_block=1, num_grow=8)
    init_near_identity(psnr)
    gan = RRDBNet(3, 3, 4, num_feat=8, num_block=1, num_grow=8)
    gan.load_state_dict(psnr.state_dict())
    with torch.no_grad():
        for p in gan.parameters():
            p.add_(torch.randn_like(p) * 0.05)  # a "fine-tuned" GAN model that looks different
    esrgan.save_model(psnr, folder / "psnr.pth")
    esrgan.save_model(gan, folder / "sub" / "gan.pth")
    return folder


def png_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def _jpeg(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def wait_done(client: TestClient, job_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(f"/api/jobs/{job_id}").json()
        if status["state"] in ("done", "failed"):
            return status
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} did not finish")


@pytest.fixture(scope="module")
def setup(tmp_path_factory, one_thread):
    root = tmp_path_factory.mktemp("web")
    models = make_models(root / "models")
    secret = root / "secret.pth"
    esrgan.save_model(identity_rrdbnet(), secret)  # outside --models: must never be reachable
    (models / "outside.pth").symlink_to(secret)
    (models / "broken.pth").write_bytes(b"not a checkpoint at all")
    app = create_app(models_dir=models, max_upload=4 * 2**20, timeout=30)
    with TestClient(app) as client:
        yield client, root, models, app


def upload(client: TestClient, data: bytes, name: str = "image.png"):
    return client.post("/api/images", files={"file": (name, data, "image/png")})


def test_model_list_is_ids_of_files_inside_models(setup):
    client, _, _, _ = setup
    ids = [m["id"] for m in client.get("/api/models").json()]
    files = sorted(i for i in ids if i.startswith("file:"))
    assert files == ["file:broken.pth", "file:nearest.pth", "file:psnr.pth", "file:sub/gan.pth"]
    assert [i for i in ids if not i.startswith("file:")] == [f"name:{n}" for n in available_models()]
    assert "secret" not in client.get("/api/models").text  # the symlink out of --models is not listed


def test_upload_upscale_download_keeps_pixels(setup):
    client, _, _, _ = setup
    rgb = RNG.integers(0, 256, (12, 10, 3), dtype=np.uint8)
    info = upload(client, png_bytes(rgb), "photo.png").json()
    assert (info["width"], info["height"], info["bit_depth"], info["alpha"]) == (10, 12, 8, False)
    job = client.post("/api/jobs", json={"image": info["id"], "model": "file:nearest.pth", "tile": 32}).json()
    status = wait_done(client, job["id"])
    assert status["state"] == "done" and (status["width"], status["height"]) == (40, 48)
    assert status["done"] == status["total"] >= 1
    png = client.get(f"/api/jobs/{job['id']}/download", params={"format": "png"})
    assert png.headers["content-disposition"] == 'attachment; filename="photo_esrgan.png"'
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(png.content))), repeat(rgb))
    view = Image.open(io.BytesIO(client.get(f"/api/jobs/{job['id']}/view.png").content))
    np.testing.assert_array_equal(np.asarray(view), repeat(rgb))
    jpeg = Image.open(io.BytesIO(client.get(f"/api/jobs/{job['id']}/download?format=jpeg").content))
    assert jpeg.format == "JPEG" and jpeg.size == (40, 48)
    reference = Image.open(io.BytesIO(_jpeg(repeat(rgb))))  # Pillow at the CLI's default quality
    np.testing.assert_array_equal(np.asarray(jpeg), np.asarray(reference))
    bicubic = Image.open(io.BytesIO(client.get(f"/api/jobs/{job['id']}/bicubic.png").content))
    assert bicubic.size == (40, 48)
    assert client.get(f"/api/jobs/{job['id']}/download?format=gif").status_code == 400


def test_16bit_alpha_kept_in_png_and_alpha_in_webp(setup, tmp_path):
    from esrgan.images.image_io import read_image

    client, _, _, _ = setup
    rgba16 = RNG.integers(0, 65536, (6, 5, 4), dtype=np.uint16)
    info = upload(client, encode_png(rgba16, 16), "deep.png").json()
    assert (info["bit_depth"], info["alpha"]) == (16, True)
    job = client.post("/api/jobs", json={"image": info["id"], "model": "file:nearest.pth"}).json()
    assert wait_done(client, job["id"])["state"] == "done"
    raw = client.get(f"/api/jobs/{job['id']}/download?format=png").content
    assert raw[24] == 16 and raw[25] == 6  # IHDR: 16-bit RGBA
    (tmp_path / "out.png").write_bytes(raw)
    back = read_image(tmp_path / "out.png")
    np.testing.assert_array_equal(np.rint(back.pixels * 65535), repeat(rgba16[..., :3]))
    np.testing.assert_array_equal(np.rint(back.alpha * 65535), repeat(rgba16[..., 3]))
    webp = Image.open(io.BytesIO(client.get(f"/api/jobs/{job['id']}/download?format=webp").content))
    assert webp.format == "WEBP" and webp.mode == "RGBA" and webp.size == (20, 24)
    expected_alpha = (repeat(rgba16[..., 3]).astype(np.uint32) * 255 + 32767) // 65535
    assert np.abs(np.asarray(webp)[..., 3].astype(int) - expected_alpha).max() <= 2


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"this is a text file, not a PNG\n", "not a recognised image file"),
        (png_bytes(RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8))[:300], "truncated or corrupt"),
        (huge_header_png(30000, 30000), "refused before decoding"),
        (b"", "empty file"),
    ],
    ids=["text-renamed-png", "truncated", "decompression-bomb", "empty"],
)
def test_bad_uploads_are_one_line_errors(setup, data, message):
    client, _, _, _ = setup
    response = upload(client, data, "evil.png")
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert message in detail and "\n" not in detail and detail.startswith("evil.png")
    assert "/tmp" not in detail and "upload" not in detail.split(":")[0]  # no server paths leak
    assert client.get("/api/health").json()["ok"] is True


def test_upload_size_limit_and_undeclared_length(setup):
    client, _, _, _ = setup
    big = b"\x89PNG" + bytes(5 * 2**20)
    response = upload(client, big, "big.png")
    assert response.status_code == 413 and "limit is 4 MB" in response.json()["detail"]

    def chunks():
        yield b"--x\r\n"

    response = client.post(
        "/api/images", content=chunks(), headers={"content-type": "multipart/form-data; boundary=x"}
    )
    assert response.status_code == 411
    assert client.post("/api/images", data={"nothing": "here"}).status_code == 422


@pytest.mark.parametrize(
    "model",
    [
        "../secret.pth",
        "file:../secret.pth",
        "file:sub/../../secret.pth",
        "file:..%2fsecret.pth",
        "file:%2e%2e/secret.pth",
        "file:outside.pth",
        "SECRET",  # replaced by the absolute path of secret.pth below
        "file:SECRET",
        "file:" + "nearest.pth\x00",
    ],
)
def test_path_traversal_models_refused(setup, model):
    client, root, _, _ = setup
    model = model.replace("SECRET", str(root / "secret.pth"))
    info = upload(client, png_bytes(RNG.integers(0, 256, (4, 4, 3), dtype=np.uint8))).json()
    for payload in (
        {"image": info["id"], "model": model},
        {"image": info["id"], "model": "file:psnr.pth", "psnr_model": model},
    ):
        response = client.post("/api/jobs", json=payload)
        assert response.status_code == 400 and "unknown model" in response.json()["detail"]
    crop = {"image": info["id"], "model": model, "psnr_model": "file:psnr.pth", "alpha": 0.5}
    assert client.post("/api/crop", json=crop).status_code == 400


@pytest.mark.parametrize(
    "url",
    [
        "/static/../app.py",
        "/static/%2e%2e/app.py",
        "/static/..%2fapp.py",
        "/static/%2e%2e%2f%2e%2e%2fcli%2fserve.py",
        "/static//etc/passwd",
        "/api/images/..%2f..%2fetc%2fpasswd/view.png",
        "/api/jobs/..%2f..%2fetc%2fpasswd/download",
    ],
)
def test_path_traversal_urls_refused(setup, url):
    client, _, _, _ = setup
    response = client.get(url)
    assert response.status_code == 404
    assert b"import" not in response.content and b"root:" not in response.content


def test_failed_job_is_one_line_and_server_keeps_serving(setup):
    client, _, _, _ = setup
    info = upload(client, png_bytes(RNG.integers(0, 256, (8, 8, 3), dtype=np.uint8))).json()
    job = client.post("/api/jobs", json={"image": info["id"], "model": "file:broken.pth"}).json()
    status = wait_done(client, job["id"])
    assert status["state"] == "failed" and status["error"] and "\n" not in status["error"]
    assert client.get(f"/api/jobs/{job['id']}/download").status_code == 400
    job = client.post("/api/jobs", json={"image": info["id"], "model": "file:nearest.pth"}).json()
    assert wait_done(client, job["id"])["state"] == "done"
    assert client.get("/api/jobs/nope").status_code == 404
    bad = client.post("/api/jobs", json={"image": info["id"], "model": "file:nearest.pth", "tile": 5})
    assert bad.status_code == 400 and "tile" in bad.json()["detail"]


def _upscale_whole(model, image: np.ndarray) -> np.ndarray:
    return esrgan.upscale(model, image, tile=None)


def test_crop_preview_is_the_interpolated_network(setup):
    client, _, models, _ = setup
    rgb = RNG.integers(0, 256, (20, 24, 3), dtype=np.uint8)
    info = upload(client, png_bytes(rgb)).json()
    psnr, gan = esrgan.load_model(models / "psnr.pth"), esrgan.load_model(models / "sub" / "gan.pth")
    previews = {}
    for alpha in (0.0, 0.3, 1.0, 0.3):
        body = {
            "image": info["id"],
            "model": "file:sub/gan.pth",
            "psnr_model": "file:psnr.pth",
            "alpha": alpha,
        }
        response = client.post("/api/crop", json={**body, "x": 0, "y": 0, "width": 128, "height": 128})
        assert response.status_code == 200 and response.headers["x-crop-box"] == "0,0,24,20"
        got = np.asarray(Image.open(io.BytesIO(response.content)), dtype=int)
        expected = _upscale_whole(esrgan.interpolate(psnr, gan, alpha), rgb)  # float64 copy-and-blend
        assert np.abs(got - expected.astype(int)).max() <= 1, alpha
        previews[alpha] = got
    assert np.abs(previews[0.0] - previews[1.0]).mean() > 1  # the slider changes the picture
    # a crop inside the image: the same pixels as that region of the full result (context margin)
    body = {"image": info["id"], "model": "file:sub/gan.pth", "psnr_model": "file:psnr.pth", "alpha": 0.3}
    response = client.post("/api/crop", json={**body, "x": 9, "y": 6, "width": 6, "height": 5})
    assert response.headers["x-crop-box"] == "9,6,6,5"
    sub = np.asarray(Image.open(io.BytesIO(response.content)), dtype=int)
    assert sub.shape == (20, 24, 3)
    assert np.abs(sub - previews[0.3][24:44, 36:60]).max() <= 1
    assert client.post("/api/crop", json={**body, "alpha": 1.5}).status_code == 400
    assert client.post("/api/crop", json={**body, "psnr_model": None}).status_code == 400


def test_queue_runs_one_job_at_a_time_and_reports_positions():
    queue = JobQueue("test")
    release, running = threading.Event(), []
    try:

        def blocking(progress):
            running.append(1)
            release.wait(10)
            return "first"

        a = queue.submit("upscale", blocking)
        deadline = time.monotonic() + 5
        while not running and time.monotonic() < deadline:
            time.sleep(0.01)
        b = queue.submit("upscale", lambda p: "b")
        c = queue.submit("upscale", lambda p: 1 / 0)
        crop = queue.submit("crop", lambda p: "crop", priority=-1)
        assert (a.state, queue.position(a)) == ("running", 0)
        assert [queue.position(j) for j in (crop, b, c)] == [2, 3, 4]
        release.set()
        for job in (a, b, c, crop):
            assert job.finished_event.wait(5)
        assert (a.result, b.result, crop.result) == ("first", "b", "crop")
        assert c.state == "failed" and c.error == "internal error: ZeroDivisionError: division by zero"
        assert queue.position(b) == 0
    finally:
        release.set()
        queue.stop()


def test_every_request_is_bounded_in_time(tmp_path, one_thread):
    models = make_models(tmp_path / "models")
    app = create_app(models_dir=models, timeout=0.5)
    release = threading.Event()
    with TestClient(app) as client:
        try:
            info = upload(client, png_bytes(RNG.integers(0, 256, (4, 4, 3), dtype=np.uint8))).json()
            app.state.service.queue.submit("upscale", lambda p: release.wait(20))  # the worker is busy
            body = {
                "image": info["id"],
                "model": "file:sub/gan.pth",
                "psnr_model": "file:psnr.pth",
                "alpha": 0.5,
            }
            start = time.monotonic()
            response = client.post("/api/crop", json=body)
            assert response.status_code == 504 and "longer than 0.5 s" in response.json()["detail"]
            assert time.monotonic() - start < 15
            assert client.get("/api/health").status_code == 200
        finally:
            release.set()


def test_finished_jobs_are_kept_per_kind():
    queue = JobQueue("test", keep={"upscale": 1, "crop": 2})
    try:
        full = queue.submit("upscale", lambda p: "full")
        crops = [queue.submit("crop", lambda p, i=i: i) for i in range(4)]
        for job in (full, *crops):
            assert job.finished_event.wait(5)
        time.sleep(0.05)
        assert queue.get(full.id) is full  # slider crops never push out the result being viewed
        assert [queue.get(j.id) is not None for j in crops] == [False, False, True, True]
    finally:
        queue.stop()


def test_serve_binds_localhost_and_warns_otherwise(monkeypatch, capsys, tmp_path):
    import uvicorn

    from esrgan.cli.main import main

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    assert main(["serve", "--models", str(tmp_path)]) == 0
    assert calls[-1]["host"] == "127.0.0.1" and calls[-1]["port"] == 8000
    assert "warning" not in capsys.readouterr().err
    assert main(["serve", "--host", "0.0.0.0", "--port", "8123", "--models", str(tmp_path)]) == 0
    assert calls[-1]["host"] == "0.0.0.0" and calls[-1]["port"] == 8123
    assert "warning: listening on 0.0.0.0" in capsys.readouterr().err
    assert main(["serve", "--models", str(tmp_path / "missing")]) == 2
    assert "no such folder" in capsys.readouterr().err
