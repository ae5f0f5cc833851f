"""Make docs/degradations.png: one photo through each degradation (LR shown enlarged x4, nearest).

PYTHONPATH=. python docs/degradations_figure.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def main() -> None:
    from skimage import data

    from esrgan.data.degradations.pipeline import degradation_seed, degrade_image

    hr = data.astronaut()[20:212, 150:342]  # 192 x 192: the face and the suit's edges
    panels = [("HR (ground truth)", hr)]
    panels.append(("bicubic (ESRGAN)", degrade_image(hr, "bicubic", 4, 0)))
    panels.append(("bd: blur 1.6 + decimate", degrade_image(hr, "bd", 4, 0)))
    for seed in (1, 2, 5):
        lr = degrade_image(hr, "realesrgan", 4, degradation_seed(0, seed))
        panels.append((f"realesrgan, seed {seed}", lr))
    side, label = 192, 18
    sheet = Image.new("RGB", (3 * side, 2 * (side + label)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (name, image) in enumerate(panels):
        tile = Image.fromarray(np.ascontiguousarray(image))
        if tile.size[0] != side:
            tile = tile.resize((side, side), Image.NEAREST)
        x, y = (i % 3) * side, (i // 3) * (side + label)
        sheet.paste(tile, (x, y + label))
        draw.text((x + 4, y + 3), name, fill="black")
    out = Path(__file__).with_name("degradations.png")
    sheet.save(out, optimize=True)
    print(f"{out}: {out.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
