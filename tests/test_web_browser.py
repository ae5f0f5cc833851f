"""End to end in a real headless browser: Debian's chromium + chromium-driver, driven by Selenium.

A uvicorn server runs the real apps on 127.0.0.1 (a free port) in a thread. Covered: upload ->
result -> download, the alpha slider re-rendering the preview with the interpolated network, a whole
small MOS study rated in the browser with the report's numbers checked, and a client that
disconnects mid-request. Without /usr/bin/chromium and /usr/bin/chromedriver these tests skip with
that reason (a fresh machine runs the README's test command as written); `.ci/run` installs both and
sets ESRGAN_REQUIRE_BROWSER=1, which turns the skip into a failure. Selenium is in the test extra:
its absence always fails.
"""

from __future__ import annotations

import base64
import io
import json
import os
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import esrgan
from tests.test_mos import METHODS, check_report, make_folders, sample_photos  # noqa: F401 (fixture)
from tests.test_web_api import make_models, repeat

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
NEEDS = (
    "the browser tests need Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)"
)
REQUIRE_BROWSER = "ESRGAN_REQUIRE_BROWSER"  # set by .ci/run: a missing browser fails instead of skipping
RNG = np.random.default_rng(21)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerThread:
    """uvicorn serving `app` on 127.0.0.1 in a daemon thread."""

    def __init__(self, app) -> None:
        import uvicorn

        self.port = free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", timeout_keep_alive=5
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def downloads(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def driver(downloads):
    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).exists():
            reason = f"{path} is missing: {NEEDS}"
            if os.environ.get(REQUIRE_BROWSER) == "1":
                pytest.fail(f"{reason} ({REQUIRE_BROWSER}=1 makes the browser tests required)", pytrace=False)
            pytest.skip(reason)
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail(
            "selenium is not installed: pip install selenium (it is in the test extra)", pytrace=False
        )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM  # with the driver path below, Selenium Manager downloads nothing
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1200,800",
    ):
        options.add_argument(arg)
    options.add_experimental_option(
        "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
    )
    browser = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    browser.set_page_load_timeout(30)
    yield browser
    browser.quit()


@pytest.fixture(scope="module")
def upscale_server(tmp_path_factory, one_thread):
    from esrgan.web.app import create_app

    models = make_models(tmp_path_factory.mktemp("browser") / "models")
    server = ServerThread(create_app(models_dir=models, timeout=30))
    yield server, models
    server.stop()


def wait_for(driver, condition, timeout: float = 30, what: str = "condition"):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(lambda d: condition(d), message=what)


def text_of(driver, element_id: str) -> str:
    return driver.find_element("id", element_id).text


def canvas_pixels(driver) -> np.ndarray:
    url = driver.execute_script("return document.getElementById('after').toDataURL('image/png')")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB"))


def open_and_upload(driver, server, image: Path, model: str, psnr_model: str = "") -> None:
    from selenium.webdriver.support.ui import Select

    driver.get(server.url + "/")
    wait_for(driver, lambda d: len(d.find_elements("css selector", "#model option")) >= 3, what="model list")
    driver.find_element("id", "file").send_keys(str(image))
    wait_for(
        driver, lambda d: d.find_element("id", "status").get_attribute("data-state") == "ready", what="upload"
    )
    Select(driver.find_element("id", "model")).select_by_value(model)
    Select(driver.find_element("id", "psnr-model")).select_by_value(psnr_model)
    driver.find_element("id", "run").click()
    wait_for(
        driver,
        lambda d: d.find_element("id", "status").get_attribute("data-state") in ("done", "failed"),
        what="upscale job",
    )
    assert driver.find_element("id", "status").get_attribute("data-state") == "done", text_of(
        driver, "status"
    )


def test_upload_result_download(driver, upscale_server, downloads, tmp_path):
    from selenium.webdriver.support.ui import Select

    server, _ = upscale_server
    rgb = RNG.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "cat.png")
    open_and_upload(driver, server, tmp_path / "cat.png", "file:nearest.pth")
    assert "64x48" in text_of(driver, "status")
    np.testing.assert_array_equal(canvas_pixels(driver), repeat(rgb))  # the result shown is the result
    for fmt, name in (("png", "cat_esrgan.png"), ("webp", "cat_esrgan.webp")):
        Select(driver.find_element("id", "format")).select_by_value(fmt)
        driver.find_element("id", "download").click()
        target = downloads / name
        wait_for(driver, lambda d, t=target: t.is_file() and t.stat().st_size > 0, what=f"download {name}")
    np.testing.assert_array_equal(np.asarray(Image.open(downloads / "cat_esrgan.png")), repeat(rgb))
    assert Image.open(downloads / "cat_esrgan.webp").size == (64, 48)
    driver.find_element("id", "zoom-1").click()
    assert text_of(driver, "zoom-label") == "100%"


def test_alpha_slider_rerenders_preview(driver, upscale_server, tmp_path):
    server, models = upscale_server
    rgb = RNG.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "tree.png")
    open_and_upload(driver, server, tmp_path / "tree.png", "file:sub/gan.pth", "file:psnr.pth")
    psnr, gan = esrgan.load_model(models / "psnr.pth"), esrgan.load_model(models / "sub" / "gan.pth")
    full = canvas_pixels(driver)
    assert np.abs(full.astype(int) - esrgan.upscale(gan, rgb, tile=None)).max() <= 1  # alpha 1 = GAN model
    seen = {}
    for alpha in (0.0, 0.5):
        count = int(driver.find_element("id", "preview-status").get_attribute("data-count"))
        driver.execute_script(
            "const s = document.getElementById('alpha'); s.value = arguments[0];"
            "s.dispatchEvent(new Event('input'));",
            str(alpha),
        )
        wait_for(
            driver,
            lambda d, c=count: int(d.find_element("id", "preview-status").get_attribute("data-count")) > c,
            what=f"preview at alpha {alpha}",
        )
        assert driver.find_element("id", "preview-status").get_attribute("data-alpha") == f"{alpha:g}"
        seen[alpha] = canvas_pixels(driver).astype(int)
        expected = esrgan.upscale(esrgan.interpolate(psnr, gan, alpha), rgb, tile=None).astype(int)
        assert np.abs(seen[alpha] - expected).max() <= 1, alpha
    assert np.abs(seen[0.0] - full).mean() > 1 and np.abs(seen[0.5] - seen[0.0]).mean() > 0.5


def test_server_survives_client_disconnecting_mid_request(upscale_server):
    import httpx

    server, _ = upscale_server
    rgb = RNG.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    image = httpx.post(server.url + "/api/images", files={"file": ("a.png", buf.getvalue())}).json()["id"]
    crop = json.dumps(
        {"image": image, "model": "file:sub/gan.pth", "psnr_model": "file:psnr.pth", "alpha": 0.25}
    ).encode()
    job = json.dumps({"image": image, "model": "file:psnr.pth", "tile": 32}).encode()
    head = "HTTP/1.1\r\nHost: x\r\nContent-Type: {}\r\nContent-Length: {}\r\n\r\n"
    for request in (
        # an upload cut off mid-body, a crop and a job whose replies are never read, a huge header
        b"POST /api/images " + head.format("multipart/form-data; boundary=b", 100000).encode() + b"--b\r\n",
        b"POST /api/crop " + head.format("application/json", len(crop)).encode() + crop,
        b"POST /api/jobs " + head.format("application/json", len(job)).encode() + job,
        b"GET /api/models HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"a" * 70000,
    ):
        with socket.create_connection(("127.0.0.1", server.port)) as s:
            s.sendall(request)
        time.sleep(0.05)
    assert httpx.get(server.url + "/api/health", timeout=10).json()["ok"] is True
    again = httpx.post(
        server.url + "/api/crop", content=crop, headers={"content-type": "application/json"}, timeout=30
    )
    assert again.status_code == 200 and again.headers["x-crop-box"] == "0,0,40,40"


def test_rate_whole_study_then_report(driver, tmp_path, capsys):
    from esrgan.cli.main import main
    from esrgan.mos.study import create_study
    from esrgan.web.mos_app import create_mos_app

    hr, dirs = make_folders(tmp_path, n_images=1)
    study_dir = tmp_path / "study"
    create_study(study_dir, [(m, dirs[m]) for m in METHODS], hr, calibration=1)
    meta = json.loads((study_dir / "study.json").read_text())
    what = {i["id"]: (i["image"], i["method"]) for i in meta["items"]}
    plan = {"nearest": [1, 2], METHODS[0]: [3, 5], METHODS[1]: [4, 3], "HR": [5, 4]}  # [rater]
    given: dict[str, dict[tuple[str, str], int]] = {m: {} for m in plan}
    server = ServerThread(create_mos_app(study_dir))
    try:
        for r, rater in enumerate(("Ann", "Ben")):
            driver.get(server.url + "/")
            driver.find_element("id", "name").send_keys(rater)
            driver.find_element("id", "start").click()
            wait_for(driver, lambda d: d.find_element("id", "calibration").is_displayed(), what="calibration")
            assert "1 (bad)" in driver.page_source and "5 (excellent)" in driver.page_source
            driver.find_element("id", "calib-next").click()
            order = []
            while True:
                wait_for(
                    driver,
                    lambda d, o=order: (
                        d.find_element("id", "done").is_displayed()
                        or (d.find_element("id", "item").get_attribute("data-loaded") or "") not in ("", *o)
                    ),
                    what="next image",
                )
                if driver.find_element("id", "done").is_displayed():
                    break
                item = driver.find_element("id", "item").get_attribute("data-loaded")
                assert not any(m in driver.page_source for m in METHODS)
                image, method = what[item]
                score = plan[method][r]
                driver.find_element("css selector", f'.score[data-score="{score}"]').click()
                given[method][(rater, image)] = score
                order.append(item)
            assert sorted(order) == sorted(what)
    finally:
        server.stop()
    assert main(["mos", "report", str(study_dir)]) == 0
    text = capsys.readouterr().out
    assert "2 rater(s), 8 rating(s)" in text
    assert all(len(v) == 2 for v in given.values())
    check_report(text, study_dir / "report", given)
