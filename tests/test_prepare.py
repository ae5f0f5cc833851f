"""`esrgan prepare`: sub-image positions, HR/LR outputs, re-runs, --force and bad inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from esrgan.cli.main import main
from esrgan.data.prepare import prepare_subimages, subimage_positions
from esrgan.errors import ESRGANError
from esrgan.images.bicubic import imresize


def _read(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


@pytest.mark.parametrize(
    ("length", "crop", "step", "thresh", "expected"),
    [
        (100, 48, 24, 0, [0, 24, 48, 52]),  # 4 pixels left after 48: one more crop flush with the edge
        (100, 48, 24, 10, [0, 24, 48]),  # ... unless they are within the threshold
        (96, 48, 24, 0, [0, 24, 48]),  # exact fit
        (70, 48, 24, 0, [0, 22]),
        (48, 48, 24, 0, [0]),
        (30, 48, 24, 0, [0]),  # shorter than the crop: one position, whole side
        (2040, 480, 240, 0, [0, 240, 480, 720, 960, 1200, 1440, 1560]),  # a DIV2K side
    ],
)
def test_subimage_positions(length: int, crop: int, step: int, thresh: int, expected: list[int]) -> None:
    assert subimage_positions(length, crop, step, thresh) == expected


@pytest.fixture()
def inputs(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    folder = tmp_path / "in"
    folder.mkdir()
    images = {
        "photo": rng.integers(0, 256, (100, 70, 3), dtype=np.uint8),
        "gray": rng.integers(0, 256, (30, 26), dtype=np.uint8),  # smaller than the crop
    }
    Image.fromarray(images["photo"]).save(folder / "photo.png")
    Image.fromarray(images["gray"]).save(folder / "gray.png")
    return folder, images


def test_lr_sub_images_are_cut_from_the_lr_of_the_whole_image(tmp_path: Path, inputs) -> None:
    """As BasicSR's extract_subimages.py run on DIV2K's HR and on its LR made from whole images."""
    folder, images = inputs
    out = tmp_path / "out"
    summary = prepare_subimages(folder, out, crop=48, step=24, scale=4)
    photo = images["photo"][:100, :68]  # mod-cropped to the scale first
    whole_lr = imresize(photo, 0.25)
    boxes = [(t, l) for t in (0, 24, 48, 52) for l in (0, 20)]
    ring = 0
    for index, (t, l) in enumerate(boxes, start=1):
        name = f"photo_s{index:03d}.png"
        hr = photo[t : t + 48, l : l + 48]
        np.testing.assert_array_equal(_read(out / "hr" / name), hr)
        lr = _read(out / "lr_x4" / name)
        np.testing.assert_array_equal(lr, whole_lr[t // 4 : t // 4 + 12, l // 4 : l // 4 + 12])
        # the old way (the LR of each HR sub-image) differs only in a ring of 3 px, at inner edges
        alone = imresize(hr, 0.25)
        np.testing.assert_array_equal(lr[3:-3, 3:-3], alone[3:-3, 3:-3])
        ring += int(np.any(lr != alone))
    assert ring >= 6  # most sub-images have an edge inside the image, where the two LRs differ
    gray = np.repeat(images["gray"][:28, :24, None], 3, axis=2)  # mod-cropped to 4, RGB
    np.testing.assert_array_equal(_read(out / "hr" / "gray_s001.png"), gray)
    np.testing.assert_array_equal(_read(out / "lr_x4" / "gray_s001.png"), imresize(gray, 0.25))
    assert sorted(p.name for p in (out / "hr").iterdir()) == sorted(p.name for p in (out / "lr_x4").iterdir())
    assert len(list((out / "hr").iterdir())) == 9
    assert (summary.images, summary.subimages, summary.written, summary.unchanged) == (2, 9, 18, 0)
    assert not summary.failed


def test_several_scales(tmp_path: Path, inputs) -> None:
    folder, images = inputs
    out = tmp_path / "out"
    prepare_subimages(folder, out, crop=48, step=48, lr_scales=[2, 3])
    photo = images["photo"][:96, :66]  # mod-cropped to lcm(2, 3)
    np.testing.assert_array_equal(_read(out / "hr" / "photo_s001.png"), photo[:48, :48])
    np.testing.assert_array_equal(_read(out / "lr_x2" / "photo_s001.png"), imresize(photo, 1 / 2)[:24, :24])
    np.testing.assert_array_equal(_read(out / "lr_x3" / "photo_s001.png"), imresize(photo, 1 / 3)[:16, :16])
    assert not (out / "lr_x4").exists()


def test_crop_and_step_that_are_not_multiples_of_the_scale_are_refused(
    tmp_path: Path, inputs, capsys
) -> None:
    folder, _ = inputs
    out = tmp_path / "out"
    assert main(["prepare", str(folder), "-o", str(out), "--crop", "18", "--step", "16", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "crop 18" in err and "16 or 20" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
    with pytest.raises(ESRGANError, match=r"step 50 .* 48 or 54"):
        prepare_subimages(folder, out, crop=48, step=50, lr_scales=[2, 3])


def test_rerun_skips_and_force_overwrites(tmp_path: Path, inputs) -> None:
    folder, _ = inputs
    out = tmp_path / "out"
    prepare_subimages(folder, out, crop=48, step=24)
    target = out / "hr" / "photo_s002.png"
    original = _read(target)
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    again = prepare_subimages(folder, out, crop=48, step=24)
    assert (again.written, again.unchanged) == (0, 18)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.png")} == stamps

    Image.fromarray(255 - original).save(target)
    with pytest.raises(ESRGANError, match=r"photo_s002\.png.*--force"):
        prepare_subimages(folder, out, crop=48, step=24)
    assert not np.array_equal(_read(target), original)  # nothing overwritten
    forced = prepare_subimages(folder, out, crop=48, step=24, force=True)
    assert (forced.written, forced.unchanged) == (1, 17)
    np.testing.assert_array_equal(_read(target), original)
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]  # no temporary files left


def test_cli_reports_bad_inputs_and_goes_on(tmp_path: Path, inputs, capsys: pytest.CaptureFixture) -> None:
    folder, _ = inputs
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    out = tmp_path / "out"
    code = main(["prepare", str(folder), "-o", str(out), "--crop", "48", "--step", "24", "--quiet"])
    captured = capsys.readouterr()
    assert code == 1
    assert "broken.png" in captured.err
    assert "2 image(s) -> 9 sub-image(s)" in captured.out and "1 image(s) failed" in captured.out
    assert len(list((out / "hr").iterdir())) == 9


def test_cli_errors(tmp_path: Path, inputs, capsys: pytest.CaptureFixture) -> None:
    folder, _ = inputs
    assert main(["prepare", str(tmp_path / "nowhere"), "-o", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["prepare", str(folder), "-o", str(tmp_path / "o"), "--step", "0"]) == 2
    assert "step" in capsys.readouterr().err
    assert main(["prepare", str(folder), "-o", str(tmp_path / "o"), "--lr-scales", "2,x"]) == 2
    assert "--lr-scales" in capsys.readouterr().err
