"""The training loop: stage 1 (pixel loss) and stage 2 (GAN) are the same loop.

Read `train()` top to bottom. The only difference between the stages is which loss terms have a
non-zero weight: with `loss.gan_weight > 0` a discriminator is built and each iteration adds a
generator adversarial term and one discriminator step (alternating, one step each, as the paper).
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from esrgan.data.datasets import PairedImageDataset, SingleImageDataset, ValidationDataset
from esrgan.data.degradations.pipeline import TrainingDegradation
from esrgan.data.sampler import TrainingSampler
from esrgan.data.samples import with_sample_folders
from esrgan.errors import ESRGANError
from esrgan.losses.adversarial import discriminator_loss, generator_loss
from esrgan.losses.fourier import FourierLoss
from esrgan.losses.perceptual import PerceptualLoss
from esrgan.losses.pixel import PixelLoss
from esrgan.models.discriminator import SRGANDiscriminator, VGGDiscriminator
from esrgan.models.loading import load_model
from esrgan.models.rrdbnet import RRDBNet, init_near_identity, init_weights_scaled
from esrgan.models.srresnet import SRResNet
from esrgan.models.srvgg import SRVGGNetCompact
from esrgan.models.srvgg import init_near_identity as srvgg_near_identity
from esrgan.models.unet_discriminator import UNetDiscriminatorSN, load_discriminator_weights
from esrgan.training import checkpoint as ckpt
from esrgan.training import distributed
from esrgan.training.config import DiscriminatorConfig, GeneratorConfig, TrainConfig, to_dict
from esrgan.training.distill import with_distillation
from esrgan.training.ema import EMA
from esrgan.training.logger import RunLogger
from esrgan.training.run_lock import RunFolder
from esrgan.training.schedule import lr_factor
from esrgan.training.validation import validate


def build_generator(cfg: GeneratorConfig) -> nn.Module:
    if cfg.architecture == "RRDBNet":
        model = RRDBNet(cfg.in_ch, cfg.out_ch, cfg.scale, cfg.num_feat, cfg.num_block, cfg.num_grow)
        if cfg.init_scale != 0.1:
            init_weights_scaled(model, cfg.init_scale)
        if cfg.init == "identity":
            try:
                init_near_identity(model)
            except ValueError as exc:
                raise ESRGANError(f"generator.init=identity: {exc}") from None
        return model
    if cfg.architecture == "SRVGGNetCompact":
        try:
            net = SRVGGNetCompact(cfg.in_ch, cfg.out_ch, cfg.scale, cfg.num_feat, cfg.num_conv, cfg.act_type)
        except ValueError as exc:
            raise ESRGANError(f"generator: {exc}") from None
        if cfg.init == "identity":
            srvgg_near_identity(net)
        return net
    return SRResNet(cfg.in_ch, cfg.out_ch, cfg.scale, cfg.num_feat, cfg.num_block, cfg.batch_norm)


def build_discriminator(cfg: DiscriminatorConfig, in_ch: int, hr_crop: int) -> nn.Module:
    if cfg.architecture == "unet":
        if hr_crop % 8:
            raise ESRGANError(f"discriminator unet needs data.hr_crop divisible by 8, got {hr_crop}")
        model: nn.Module = UNetDiscriminatorSN(in_ch, cfg.num_feat)
        if cfg.pretrained:
            load_discriminator_weights(model, cfg.pretrained)
        return model
    try:
        if cfg.architecture == "vgg":
            return VGGDiscriminator(in_ch, cfg.num_feat, input_size=hr_crop)
        return SRGANDiscriminator(in_ch, cfg.num_feat, input_size=hr_crop)
    except ValueError as exc:
        raise ESRGANError(f"discriminator: {exc} (set data.hr_crop accordingly)") from None


def load_pretrained(model: nn.Module, path: str, key: str = "auto") -> None:
    """Stage 2 starts from the stage-1 generator (`key`: which of its weights); architectures must agree."""
    source = load_model(path, weights=None if key == "auto" else key).model
    if type(source) is not type(model) or source.config != model.config:
        raise ESRGANError(
            f"generator.pretrained {path} is {type(source).__name__}{asdict(source.config)}, "
            f"but the config builds {type(model).__name__}{asdict(model.config)}"
        )
    model.load_state_dict(source.state_dict())


@dataclass
class StepStats:
    """Running sums of the losses between two log lines."""

    sums: dict[str, float] = field(default_factory=dict)
    count: int = 0

    def add(self, values: dict[str, Tensor]) -> None:
        for key, value in values.items():
            self.sums[key] = self.sums.get(key, 0.0) + float(value)
        self.count += 1

    def means(self) -> dict[str, float]:
        return {k: v / max(1, self.count) for k, v in self.sums.items()}


def train(cfg: TrainConfig, *, resume: bool = False) -> Path:
    """Run (or continue) training; returns the path of the final generator checkpoint.

    One run per folder: the run folder is locked for the run's life (a second run into it is
    refused), and a new folder is removed again if the run fails before its first iteration.
    """
    cfg = with_distillation(with_sample_folders(cfg), progress=cfg.progress)
    device = distributed.pick_device(cfg.device)
    dist = distributed.setup(device)
    with RunFolder(cfg.run_dir, enabled=dist.is_main) as run:
        return _train(cfg, resume, device, dist, run)


def _train(
    cfg: TrainConfig, resume: bool, device: torch.device, dist: distributed.DistInfo, run: RunFolder
) -> Path:
    run_dir = cfg.run_dir
    if cfg.amp != "none" and device.type != "cuda":
        raise ESRGANError(f"amp={cfg.amp} needs a CUDA device; use amp=none on {device.type}")
    if cfg.data.batch_size % dist.world_size:
        raise ESRGANError(
            f"data.batch_size {cfg.data.batch_size} is not divisible by {dist.world_size} ranks"
        )
    for key in ("val_hr", "val_lr", "train_lr"):
        folder = getattr(cfg.data, key)
        if folder and not Path(folder).is_dir():
            raise ESRGANError(f"data.{key}: folder not found: {folder}")
    existing = ckpt.saved_iterations(run_dir)
    if existing and not resume:
        raise ESRGANError(f"{run_dir} has checkpoints (iteration {existing[-1]}): --resume, or another name")
    logger = RunLogger(run_dir, cfg, enabled=dist.is_main)
    run.on_cleanup(logger.close)
    torch.manual_seed(cfg.seed)

    # ---- models, losses, optimisers -----------------------------------------------------------
    net_g = build_generator(cfg.generator)
    if cfg.generator.pretrained:
        load_pretrained(net_g, cfg.generator.pretrained, cfg.generator.pretrained_key)
    elif cfg.is_gan:
        logger.warn(
            "GAN training without generator.pretrained: the paper starts stage 2 from the "
            "PSNR-oriented model; from scratch it is unstable"
        )
    net_g.to(device)
    ema = EMA(net_g, cfg.ema_decay) if cfg.ema_decay > 0 else None
    pixel_loss = PixelLoss(cfg.loss.pixel, cfg.loss.pixel_weight) if cfg.loss.pixel_weight > 0 else None
    fourier = None
    if cfg.loss.fourier_weight > 0:
        fourier = FourierLoss(cfg.loss.fourier_window, cfg.loss.fourier_weight, cfg.loss.fourier_log_scale)
    perceptual = None
    if cfg.loss.perceptual_weight > 0:
        perceptual = PerceptualLoss(
            cfg.loss.perceptual_layers,
            cfg.loss.perceptual_criterion,
            weights_path=cfg.loss.vgg_weights,
            random_init=cfg.loss.vgg_random_init,
            feature_scale=cfg.loss.perceptual_feature_scale,
            weight=cfg.loss.perceptual_weight,
        ).to(device)
        if cfg.loss.vgg_random_init:
            logger.warn(
                "perceptual loss uses RANDOM VGG19 weights (loss.vgg_random_init): not a real perceptual loss"
            )
    net_d = (
        build_discriminator(cfg.discriminator, cfg.generator.out_ch, cfg.data.hr_crop).to(device)
        if cfg.is_gan
        else None
    )

    fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
    net_g.to(memory_format=fmt)
    if net_d is not None:
        net_d.to(memory_format=fmt)
    betas = tuple(cfg.optim.betas)
    opt_g = torch.optim.Adam(
        net_g.parameters(), cfg.optim.lr_g, betas=betas, weight_decay=cfg.optim.weight_decay
    )
    opt_d = torch.optim.Adam(net_d.parameters(), cfg.optim.lr_d, betas=betas) if net_d is not None else None
    use_scaler = cfg.amp == "fp16"
    scaler_g = torch.amp.GradScaler("cuda", enabled=use_scaler)
    scaler_d = torch.amp.GradScaler("cuda", enabled=use_scaler)

    # ---- resume ---------------------------------------------------------------------------------
    train_state = ckpt.TrainState(net_g, opt_g, net_d, opt_d, ema, scaler_g, scaler_d)
    start_iter, bad_steps = 0, 0
    if resume and existing:
        start_iter, bad_steps = train_state.load(run_dir, existing[-1])
        logger.info(f"resumed from iteration {start_iter} ({ckpt.state_path(run_dir, start_iter)})")
    elif resume:
        logger.info(f"--resume: no checkpoint in {run_dir}, starting from iteration 0")

    # DDP wraps after loading weights. The G step calls the bare discriminator (`d_plain`) so that
    # DDP's reducer only sees D in the D step; D's BatchNorm buffers are not broadcast, which
    # avoids the in-place modification error two D forwards before one backward would raise.
    g_train: nn.Module = net_g
    d_train: nn.Module | None = net_d
    if dist.enabled:
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [device.index] if device.type == "cuda" else None
        g_train = DDP(net_g, device_ids=ids)
        if net_d is not None:
            d_train = DDP(net_d, device_ids=ids, broadcast_buffers=False)
    if cfg.compile:
        g_train = torch.compile(g_train)

    # ---- data -----------------------------------------------------------------------------------
    loader = _make_loader(cfg, start_iter, dist, device)
    degrade = TrainingDegradation.from_data_config(
        cfg.data, cfg.generator.scale, cfg.seed, rank=dist.rank, world_size=dist.world_size
    )
    val_set = None
    if cfg.data.val_hr and dist.is_main:  # decoded once here, not at every validation
        limit = cfg.data.val_max_images if cfg.data.val_max_images > 0 else None
        val_set = ValidationDataset(cfg.data.val_hr, cfg.data.val_lr, cfg.generator.scale, max_images=limit)
    data_iter = iter(loader)
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16 if cfg.amp == "bf16" else torch.float16)
        if cfg.amp != "none"
        else contextlib.nullcontext()
    )

    # ---- the loop -------------------------------------------------------------------------------
    logger.start(start_iter, cfg.total_iters, net_g, net_d)
    stats, t_last = StepStats(), time.perf_counter()
    net_g.train()
    if net_d is not None:
        net_d.train()
    for iteration in range(start_iter, cfg.total_iters):
        factor = lr_factor(cfg.optim, iteration, cfg.total_iters)
        _set_lr(opt_g, cfg.optim.lr_g * factor)
        if opt_d is not None:
            _set_lr(opt_d, cfg.optim.lr_d * factor)
        batch = next(data_iter)
        lr_img = batch["lr"].to(device, non_blocking=True)
        hr_img = batch["hr"].to(device, non_blocking=True)
        hr_real = hr_img  # the discriminator's real images (stay unsharpened under data.usm_sharpen_gt)
        if degrade is not None:  # LR from data.degradation; a pure function of (seed, iteration, rank)
            lr_img, hr_img, hr_real = degrade(lr_img, hr_img, iteration)
        lr_img = lr_img.contiguous(memory_format=fmt)
        hr_img = hr_img.contiguous(memory_format=fmt)
        hr_real = hr_real.contiguous(memory_format=fmt)

        # Generator step: pixel (+ perceptual) (+ adversarial).
        with autocast:
            sr = g_train(lr_img)
            terms: dict[str, Tensor] = {}
            if pixel_loss is not None:
                terms["pixel"] = pixel_loss(sr.float(), hr_img)
            if fourier is not None:
                terms["fourier"] = fourier(sr.float(), hr_img)
            if perceptual is not None:
                terms["perceptual"] = perceptual(sr.float(), hr_img)
            if net_d is not None:
                net_d.requires_grad_(False)
                real_logits = net_d(hr_real).detach()
                fake_logits = net_d(sr)
                terms["gan_g"] = cfg.loss.gan_weight * generator_loss(
                    real_logits.float(), fake_logits.float(), cfg.loss.gan_type
                )
            loss_g = sum(terms.values())
        if not _all_finite(loss_g, dist):
            bad_steps += 1
            opt_g.zero_grad(set_to_none=True)
            logger.warn(
                f"iteration {iteration + 1}: non-finite generator loss, step skipped ({bad_steps} in a row)"
            )
            if bad_steps >= cfg.max_bad_steps:
                last = ckpt.saved_iterations(run_dir)
                where = ckpt.generator_path(run_dir, last[-1]) if last else "none saved yet"
                raise ESRGANError(
                    f"stopped at iteration {iteration + 1}: {bad_steps} consecutive non-finite "
                    f"losses; last good checkpoint: {where}"
                )
            continue
        bad_steps = 0
        opt_g.zero_grad(set_to_none=True)
        scaler_g.scale(loss_g).backward()
        _clip_and_step(opt_g, scaler_g, net_g, cfg.optim.grad_clip)
        if ema is not None:
            ema.update(net_g)

        # Discriminator step (GAN stage only): one step after each generator step.
        if net_d is not None and d_train is not None and opt_d is not None:
            net_d.requires_grad_(True)
            with autocast:
                loss_d = discriminator_loss(
                    d_train(hr_real).float(), d_train(sr.detach()).float(), cfg.loss.gan_type
                )
            opt_d.zero_grad(set_to_none=True)
            if _all_finite(loss_d, dist):
                scaler_d.scale(loss_d).backward()
                _clip_and_step(opt_d, scaler_d, net_d, cfg.optim.grad_clip)
                terms["d"] = loss_d.detach()
            else:
                logger.warn(f"iteration {iteration + 1}: non-finite discriminator loss, D step skipped")

        terms = {k: v.detach() for k, v in terms.items()}
        stats.add(terms)
        done = iteration + 1
        run.started()
        logger.step(done, terms)
        if done % cfg.log_every == 0 or done == cfg.total_iters:
            now = time.perf_counter()
            losses = {f"loss/{k}": v for k, v in stats.means().items()}
            speed = stats.count / max(1e-9, now - t_last)
            logger.scalars(done, {**losses, "lr/g": cfg.optim.lr_g * factor, "speed/it_per_s": speed})
            stats, t_last = StepStats(), now
        if val_set is not None and (done % cfg.val_every == 0 or done == cfg.total_iters):
            model_for_val = ema.module if ema is not None else net_g
            results = validate(model_for_val, val_set, cfg, run_dir, done, logger)
            logger.scalars(done, {f"val/{k}": v for k, v in results.items()})
        if done % cfg.save_every == 0 or done == cfg.total_iters:
            if dist.is_main:
                train_state.save(run_dir, done, bad_steps, to_dict(cfg), cfg.name)
                ckpt.prune(run_dir, cfg.keep_last)
            distributed.barrier(dist)

    final = run_dir / "models" / "net_g_final.pth"
    if dist.is_main:
        train_state.save_generator(final, cfg.total_iters, cfg.name)
        logger.info(f"finished: {final}")
    logger.close()
    distributed.barrier(dist)
    distributed.cleanup(dist)
    return final


def _make_loader(cfg: TrainConfig, start_iter: int, dist: distributed.DistInfo, device: torch.device):
    from torch.utils.data import DataLoader

    d = cfg.data
    if not d.train_hr:
        raise ESRGANError("data.train_hr is not set: the folder of high-resolution training images")
    scale = cfg.generator.scale
    opts = {"hr_crop": d.hr_crop, "augment": d.augment, "cache": d.cache}
    if d.train_lr:
        dataset = PairedImageDataset(d.train_hr, d.train_lr, scale, **opts)
    else:
        dataset = SingleImageDataset(d.train_hr, scale, **opts)
    sampler = TrainingSampler(len(dataset), d.batch_size, cfg.seed, start_iter, dist.rank, dist.world_size)
    return DataLoader(
        dataset,
        batch_size=d.batch_size // dist.world_size,
        sampler=sampler,
        num_workers=d.num_workers,
        pin_memory=d.pin_memory and device.type == "cuda",
        persistent_workers=d.num_workers > 0,
    )


def _set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for group in opt.param_groups:
        group["lr"] = lr


def _all_finite(loss: Tensor, dist: distributed.DistInfo) -> bool:
    """Every rank must agree to skip a step, or DDP's gradient all-reduce would hang."""
    flag = torch.tensor([1.0 if math.isfinite(float(loss.detach())) else 0.0], device=loss.device)
    if dist.enabled:
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MIN)
    return bool(flag.item() > 0)


def _clip_and_step(
    opt: torch.optim.Optimizer, scaler: torch.amp.GradScaler, model: nn.Module, grad_clip: float
) -> None:
    if grad_clip > 0:
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    scaler.step(opt)
    scaler.update()
