"""The ablation chain of configs/ablation (ESRGAN Fig. 8): each step differs from the one before it
by exactly its named change, in the GAN configs and in the PSNR generators they start from, and the
folder's README table names that change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from esrgan.training.config import TrainConfig, load_config, to_dict

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"

# Fig. 8's columns, typed in here: (config, the named change from the step before, the settings it changes).
CHAIN: list[tuple[str, str, set[str]]] = [
    ("ablation/1_srgan", "(the baseline)", set()),
    ("ablation/2_no_bn", "BN removed", {"generator.batch_norm"}),
    ("ablation/3_before_activation", "perceptual features before activation", {"loss.perceptual_layers"}),
    ("ablation/4_ragan", "relativistic average GAN", {"loss.gan_type"}),
    (
        "esrgan_x4_gan",
        "RRDB generator (RRDBNet, 23 blocks)",
        {"generator.architecture", "generator.num_block"},
    ),
]
# Which run a config is (its name) and where its weights go are not settings of the experiment.
NOT_SETTINGS = {"name", "generator.pretrained"}


def flat(cfg: TrainConfig) -> dict[str, Any]:
    out: dict[str, Any] = {}

    def walk(prefix: str, node: dict[str, Any]) -> None:
        for key, value in node.items():
            if isinstance(value, dict) and key != "perceptual_layers":
                walk(f"{prefix}{key}.", value)
            else:
                out[prefix + key] = value

    walk("", to_dict(cfg))
    return {k: v for k, v in out.items() if k not in NOT_SETTINGS}


def differences(a: TrainConfig, b: TrainConfig) -> set[str]:
    x, y = flat(a), flat(b)
    assert x.keys() == y.keys()
    return {k for k in x if x[k] != y[k]}


def psnr_start(cfg: TrainConfig) -> TrainConfig:
    """The config whose run writes the generator that `cfg` starts from."""
    runs = {}
    for path in CONFIGS.rglob("*.yaml"):
        candidate = load_config(path)
        runs[str(candidate.run_dir / "models/net_g_final.pth")] = candidate
    assert cfg.generator.pretrained in runs, f"{cfg.name} starts from no preset's run"
    start = runs[cfg.generator.pretrained]
    assert not start.is_gan and start.generator.pretrained is None
    return start


def test_each_step_differs_from_the_one_before_by_its_named_change_only():
    steps = [(load_config(CONFIGS / f"{name}.yaml"), change, fields) for name, change, fields in CHAIN]
    for (before, _, _), (after, change, fields) in zip(steps, steps[1:], strict=False):
        assert before.is_gan and after.is_gan
        assert differences(before, after) == fields, f"{after.name}: {change}"
        # The PSNR starts differ by the generator part of the change (none for a loss change).
        generator_part = {f for f in fields if f.startswith("generator.")}
        assert differences(psnr_start(before), psnr_start(after)) == generator_part, f"{after.name} start"


def test_the_readme_table_names_each_change():
    rows = {}
    for line in (CONFIGS / "ablation/README.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) > 2 and cells[1].startswith("`"):
            rows[cells[1].strip("`").removeprefix("../").removesuffix(".yaml")] = cells[2]
    for name, change, _ in CHAIN:
        assert rows[name.removeprefix("ablation/")] == change, name
