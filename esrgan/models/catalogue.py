"""The published checkpoints `-m NAME` knows: where each is downloaded from, its size and sha256,
license and shape, and where those facts were read (data only; `hub.py` resolves and caches)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, kw_only=True)
class KnownModel:
    """One published checkpoint (defaults: the commonest, Real-ESRGAN's x4 RRDBNet). `sha256`/`size`
    None: no source publishes them (never guessed)."""

    name: str
    filename: str  # name in the cache and on mirrors
    architecture: str = "RRDBNet"
    scale: int = 4
    shape: str = "64nf 23nb gc32"  # hyper-parameters, as OpenModelDB writes them
    license: str = "BSD-3-Clause"
    publisher: str
    page: str  # where a person can fetch it by hand
    urls: tuple[str, ...]  # direct downloads, tried in order after any mirror
    size: int | None
    sha256: str | None
    sha256_prefix: str | None = None  # BasicSR names files NAME-<first 8 hex of sha256>.pth
    sources: tuple[str, ...] = ()  # where the URL, size and hash were read
    cross_checked: bool = False  # URL and sha256 agree in two independent sources

    @property
    def verifiable(self) -> bool:
        return self.sha256 is not None


RE = "https://github.com/xinntao/Real-ESRGAN/releases/download"


def release(tag: str, filename: str) -> dict[str, Any]:
    """The file, page and URL of a Real-ESRGAN GitHub release asset."""
    page = f"https://github.com/xinntao/Real-ESRGAN/releases/tag/{tag}"
    return {"filename": filename, "page": page, "urls": (f"{RE}/{tag}/{filename}",)}


OMDB = "OpenModelDB/open-model-database data/models/{}.json (size, sha256, URL)"
AUR = "AUR python-realesrgan PKGBUILD (sha256sums of the release files)"
RE_ZOO = "xinntao/Real-ESRGAN docs/model_zoo.md (URL)"
RE_INFER = "xinntao/Real-ESRGAN inference_realesrgan.py (URL, SRVGGNetCompact shape)"
PIXELUP = "PixelUp model table (size, sha256, URL)"

MODELS: tuple[KnownModel, ...] = (
    KnownModel(
        name="RRDB_ESRGAN_x4",
        filename="RRDB_ESRGAN_x4.pth",
        license="Apache-2.0",
        publisher="ESRGAN repository (xinntao/ESRGAN), the paper's final model",
        page="https://drive.google.com/drive/u/0/folders/17VYV_SoZZesU6mbxz2dMAIccSSlqLecY",
        # The publisher only links a Google Drive folder; OpenModelDB keeps a direct mirror.
        urls=(
            "https://objectstorage.us-phoenix-1.oraclecloud.com/n/ax6ygfvpvzka/b/open-modeldb-files/o/"
            "4x-ESRGAN.pth",
        ),
        size=66952991,
        sha256="545805ce2d861ee90972b5fa50b851f19ee4bb35dedd2eb090be1f7c935b6b00",
        sources=(OMDB.format("4x-ESRGAN"), "xinntao/ESRGAN README (Google Drive folder, no hash)"),
    ),
    KnownModel(
        name="RRDB_PSNR_x4",
        filename="RRDB_PSNR_x4.pth",
        license="Apache-2.0",
        publisher="ESRGAN repository (xinntao/ESRGAN), the PSNR-oriented model",
        page="https://drive.google.com/open?id=1ldwajXL50uC7PCS63B4Wato6Dnk-svNL",
        urls=(),  # Google Drive only (an HTML confirmation page, not a direct download)
        size=66954395,
        sha256="985fba37421353716ef2fbd7fbbab061e76409994d168cf52527aa8ee53f81ec",
        sources=(OMDB.format("4x-PSNR"), "xinntao/ESRGAN README (Google Drive folder, no hash)"),
    ),
    KnownModel(
        name="ESRGAN_SRx4_DF2KOST_official",
        filename="ESRGAN_SRx4_DF2KOST_official-ff704c30.pth",
        license="Apache-2.0",
        publisher="BasicSR (XPixelGroup/BasicSR), official ESRGAN",
        page="https://github.com/xinntao/Real-ESRGAN/blob/master/docs/model_zoo.md",
        urls=(f"{RE}/v0.1.1/ESRGAN_SRx4_DF2KOST_official-ff704c30.pth",),
        size=None,
        sha256=None,
        sha256_prefix="ff704c30",
        sources=(RE_ZOO, "BasicSR scripts/download_pretrained_models.py (Google Drive id, no hash)"),
    ),
    KnownModel(
        name="ESRGAN_PSNR_SRx4_DF2K_official",
        filename="ESRGAN_PSNR_SRx4_DF2K_official-150ff491.pth",
        license="Apache-2.0",
        publisher="BasicSR (XPixelGroup/BasicSR), official ESRNet (PSNR-oriented)",
        page="https://drive.google.com/file/d/1swaV5iBMFfg-DL6ZyiARztbhutDCWXMM",
        urls=(),  # Google Drive only
        size=None,
        sha256=None,
        sha256_prefix="150ff491",
        sources=("BasicSR scripts/download_pretrained_models.py (Google Drive id, no hash)",),
    ),
    KnownModel(
        name="RealESRGAN_x4plus",
        publisher="Real-ESRGAN (xinntao/Real-ESRGAN) release v0.1.0",
        **release("v0.1.0", "RealESRGAN_x4plus.pth"),
        size=67040989,
        sha256="4fa0d38905f75ac06eb49a7951b426670021be3018265fd191d2125df9d682f1",
        sources=(OMDB.format("4x-realesrgan-x4plus"), AUR, RE_ZOO),
        cross_checked=True,
    ),
    KnownModel(
        name="RealESRGAN_x2plus",
        scale=2,
        publisher="Real-ESRGAN (xinntao/Real-ESRGAN) release v0.2.1",
        **release("v0.2.1", "RealESRGAN_x2plus.pth"),
        size=67061725,
        sha256="49fafd45f8fd7aa8d31ab2a22d14d91b536c34494a5cfe31eb5d89c2fa266abb",
        sources=(OMDB.format("2x-realesrgan-x2plus"), AUR, RE_ZOO),
        cross_checked=True,
    ),
    KnownModel(
        name="RealESRNet_x4plus",
        publisher="Real-ESRGAN (xinntao/Real-ESRGAN) release v0.1.1",
        **release("v0.1.1", "RealESRNet_x4plus.pth"),
        size=67040989,
        sha256="a820b9bde89a874d7599d545567308ce6c128fc8754a53208eda016d40aa81df",
        # Not in OpenModelDB; two independent downstream projects agree on the hash.
        sources=(AUR, PIXELUP, RE_ZOO),
        cross_checked=True,
    ),
    KnownModel(
        name="RealESRGAN_x4plus_anime_6B",
        shape="64nf 6nb gc32",
        publisher="Real-ESRGAN (xinntao/Real-ESRGAN) release v0.2.2.4",
        **release("v0.2.2.4", "RealESRGAN_x4plus_anime_6B.pth"),
        size=17938799,
        sha256="f872d837d3c90ed2e05227bed711af5671a6fd1c9f7d7e91c911a61f155e99da",
        sources=(OMDB.format("4x-realesrgan-x4plus-anime-6b"), AUR, RE_ZOO),
        cross_checked=True,
    ),
    KnownModel(
        name="realesr-animevideov3",
        architecture="SRVGGNetCompact",
        shape="64nf 16nc",
        publisher="Real-ESRGAN (xinntao/Real-ESRGAN) release v0.2.5.0, anime video (XS size)",
        **release("v0.2.5.0", "realesr-animevideov3.pth"),
        size=2504012,
        sha256="b8a8376811077954d82ca3fcf476f1ac3da3e8a68a4f4d71363008000a18b75d",
        sources=(PIXELUP, "TensoRaws/ccrestoration model config (sha256 of the same file)", RE_INFER),
        cross_checked=True,
    ),
    KnownModel(
        name="realesr-general-x4v3",
        architecture="SRVGGNetCompact",
        shape="64nf 32nc",
        publisher="Real-ESRGAN (xinntao/Real-ESRGAN) release v0.2.5.0, general scenes (S size); "
        "--denoise blends it with realesr-general-wdn-x4v3",
        **release("v0.2.5.0", "realesr-general-x4v3.pth"),
        size=4885111,
        sha256="8dc7edb9ac80ccdc30c3a5dca6616509367f05fbc184ad95b731f05bece96292",
        sources=(OMDB.format("4x-realesr-general-x4v3"), AUR, PIXELUP, RE_INFER),
        cross_checked=True,
    ),
    KnownModel(
        name="realesr-general-wdn-x4v3",
        architecture="SRVGGNetCompact",
        shape="64nf 32nc",
        publisher="Real-ESRGAN (xinntao/Real-ESRGAN) release v0.2.5.0, the weak-denoise twin of "
        "realesr-general-x4v3",
        **release("v0.2.5.0", "realesr-general-wdn-x4v3.pth"),
        size=4885111,
        sha256="1641f8c4464b9f097c9fdda5589273713f67cf59f3d909e0bd688f0cee269dca",
        sources=(AUR, PIXELUP, RE_INFER),
        cross_checked=True,
    ),
)
