"""Latency of the web page's alpha-slider preview: a 128 px LR crop re-rendered at a new alpha.

    python bench/bench_web_preview.py                  # the built-in size (32 features, 4 blocks)
    python bench/bench_web_preview.py --feat 64 --blocks 23   # the paper's model

Measured in one run, on the same crop, median of --repeat alphas:
  http      POST /api/crop through the real app (FastAPI TestClient): queue, in-place blend
            (torch.lerp into a cached working copy), upscale of the crop + 8 px context, PNG
  naive     esrgan.interpolate (fresh deep copy, float64 blend) + esrgan.upscale of the same crop
Printed: seconds each, and the ratio naive / http.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--feat", type=int, default=32)
    parser.add_argument("--blocks", type=int, default=4)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    import numpy as np
    import torch
    from fastapi.testclient import TestClient
    from PIL import Image

    import esrgan
    from esrgan.models.rrdbnet import RRDBNet, init_near_identity
    from esrgan.web.app import create_app

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        models = Path(tmp)
        psnr = RRDBNet(num_feat=args.feat, num_block=args.blocks)
        init_near_identity(psnr)
        gan = RRDBNet(num_feat=args.feat, num_block=args.blocks)
        gan.load_state_dict({k: v + 0.01 * torch.randn_like(v) for k, v in psnr.state_dict().items()})
        esrgan.save_model(psnr, models / "psnr.pth")
        esrgan.save_model(gan, models / "gan.pth")
        rgb = np.random.default_rng(0).integers(0, 256, (384, 384, 3), dtype=np.uint8)
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format="PNG")
        x = y = 100
        box = {"x": x, "y": y, "width": args.crop, "height": args.crop}
        alphas = [round(0.1 + 0.8 * i / max(1, args.repeat - 1), 3) for i in range(args.repeat)]
        with TestClient(create_app(models_dir=models)) as client:
            image = client.post("/api/images", files={"file": ("a.png", buf.getvalue())}).json()["id"]
            body = {"image": image, "model": "file:gan.pth", "psnr_model": "file:psnr.pth"}
            client.post("/api/crop", json={**body, "alpha": 0.0, **box})  # load and cache the pair
            http = []
            for alpha in alphas:
                t = time.perf_counter()
                assert client.post("/api/crop", json={**body, "alpha": alpha, **box}).status_code == 200
                http.append(time.perf_counter() - t)
        psnr_d, gan_d = esrgan.load_model(models / "psnr.pth"), esrgan.load_model(models / "gan.pth")
        lr = rgb[y - 8 : y + args.crop + 8, x - 8 : x + args.crop + 8]
        naive = []
        for alpha in alphas:
            t = time.perf_counter()
            esrgan.upscale(esrgan.interpolate(psnr_d, gan_d, alpha), lr, tile=None)
            naive.append(time.perf_counter() - t)
    h, n = statistics.median(http), statistics.median(naive)
    print(
        f"RRDBNet {args.feat} features, {args.blocks} blocks, {args.crop} px crop, "
        f"torch threads {torch.get_num_threads()}"
    )
    print(f"http  (queue + in-place blend + crop + PNG): {h:.3f} s")
    print(f"naive (esrgan.interpolate + esrgan.upscale): {n:.3f} s")
    print(f"ratio naive / http: {n / h:.2f}")


if __name__ == "__main__":
    main()
