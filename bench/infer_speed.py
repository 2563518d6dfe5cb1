"""Case inference speed: our batched ``predict_case`` vs a naive per-slice loop, same case, same run.

    .venv/bin/python bench/infer_speed.py [--archs tiny] [--paper] [--device cpu|cuda] [--slices 36]
                                         [--batch-size 64] [--threads N] [--repeats 2]

Both contenders start from the DICOM files of one 512 x 512 phantom case written to a temporary folder and
end with the ensemble's M4 slice probabilities (paper A), with the same randomly initialised nets.

- naive: for each slice, read its file with pydicom, convert to HU, window and preprocess it (each file once;
  the neighbours' images are kept for the interpolation), build its n interpolation images and forward them
  one at a time, combine, average the nets.
- ours: ``ml.infer.read_series`` + ``ml.infer.predict_case`` (preprocess once per input size, all images in
  large batches, inference mode, channels_last; AMP on CUDA).

Printed: slices/s of both and their ratio (target >= 3x); GFLOP/s achieved by ours (FLOPs of one forward per
arch counted by ``FlopCounterMode``, times the images forwarded) next to a float32 ``torch.mm`` on the same
device, and their ratio (target >= 0.75); ms per image next to Lewicki's CPU anchor (366 ms per ResNet-50
forward on a laptop CPU, paper B; docs/science.md, "Reference numbers"). On CUDA also the latency of the
full paper ensemble on a 36-slice case (target < 0.5 s on an H100). Timings are the best of ``--repeats``
after a warm-up run.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ml.device import default_device  # noqa: E402
from ml.infer import (  # noqa: E402
    CPU_BATCH_SIZE,
    CUDA_BATCH_SIZE,
    CasePrediction,
    predict_case,
    read_series,
)
from ml.interpolation import DEGREE_BY_ARCH, combine, inference_images  # noqa: E402
from ml.models import INPUT_SIZE, PAPER_ARCHS, build_architecture  # noqa: E402
from ml.phantom import PhantomConfig, generate_case, write_case  # noqa: E402
from ml.preprocess import prepare_volume  # noqa: E402

WINDOWING = "paper"
LEWICKI_CPU_MS = 366.0


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device) -> tuple[float, object]:
    sync(device)
    started = time.perf_counter()
    out = fn()
    sync(device)
    return time.perf_counter() - started, out


def write_phantom(folder: Path, n_slices: int) -> Path:
    case = generate_case(PhantomConfig(seed=1, slices_min=n_slices, slices_max=n_slices), 0)
    return write_case(case, folder) / "series"


def build_models(archs: list[str], device: torch.device) -> dict[str, nn.Module]:
    torch.manual_seed(0)
    return {arch: build_architecture(arch).eval().to(device) for arch in archs}


def naive_loop(
    files: list[Path], models: Mapping[str, nn.Module], degree: Mapping[str, int], device: torch.device
) -> np.ndarray:
    """The per-slice baseline: one file, one preprocessing and one image per forward at a time."""
    import pydicom

    cache: dict[int, dict[int, torch.Tensor]] = {}

    def slice_input(i: int) -> dict[int, torch.Tensor]:
        if i not in cache:
            ds = pydicom.dcmread(files[i])
            hu = ds.pixel_array.astype(np.float32) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
            sizes = {INPUT_SIZE[arch] for arch in models}
            cache[i] = {s: prepare_volume(hu[None], WINDOWING, s, device)[0] for s in sizes}
        return cache[i]

    rows = []
    cuda = device.type == "cuda"
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.float16, enabled=cuda):
        for s in range(len(files)):
            near = [i for i in (s - 1, s, s + 1) if 0 <= i < len(files)]
            per_net = []
            for arch, model in models.items():
                stack = torch.stack([slice_input(i)[INPUT_SIZE[arch]] for i in near])
                images, weights = inference_images(stack, near.index(s), degree[arch])
                probs = [torch.sigmoid(model(image[None]))[0].float().cpu().numpy() for image in images]
                per_net.append(combine(np.stack(probs), weights))
            rows.append(np.mean(per_net, axis=0))
            cache.pop(s - 1, None)
    return np.stack(rows)


def ours(series: Path, models: Mapping[str, nn.Module], degree: Mapping[str, int], batch_size: int | None):
    hu, _ = read_series(series)
    return predict_case(
        models,
        hu,
        input_size={arch: INPUT_SIZE[arch] for arch in models},
        degree=degree,
        windowing=WINDOWING,
        batch_size=batch_size,
    )


def flops_per_image(model: nn.Module, size: int, device: torch.device) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        model(torch.zeros(1, 3, size, size, device=device))
    return int(counter.get_total_flops())


def matmul_gflops(device: torch.device, dtype: torch.dtype = torch.float32) -> float:
    n = 8192 if device.type == "cuda" else 2048
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    torch.mm(a, b)
    best = min(timed(lambda: torch.mm(a, b), device)[0] for _ in range(5))
    return 2 * n**3 / best / 1e9


def paper_latency(hu: np.ndarray, device: torch.device, batch_size: int | None) -> list[float]:
    models = build_models(list(PAPER_ARCHS), device)
    kwargs = {
        "input_size": {a: INPUT_SIZE[a] for a in models},
        "degree": {a: DEGREE_BY_ARCH[a] for a in models},
        "windowing": WINDOWING,
        "batch_size": batch_size,
    }
    for _ in range(3):
        predict_case(models, hu, **kwargs)  # type: ignore[arg-type]
    return [timed(lambda: predict_case(models, hu, **kwargs), device)[0] for _ in range(10)]  # type: ignore[arg-type]


def contest(args: argparse.Namespace, archs: list[str], device: torch.device) -> dict[str, Any]:
    """Time the naive loop and ours alternately on one written phantom case; keep the best of each."""
    degree = {arch: DEGREE_BY_ARCH.get(arch, 3) for arch in archs}  # archs outside the paper: ResNet-50's
    with tempfile.TemporaryDirectory(prefix="ichweb-bench-") as tmp:
        series = write_phantom(Path(tmp), args.slices)
        files = sorted(series.glob("*.dcm"))
        models = build_models(archs, device)
        ours(series, models, degree, args.batch_size)  # warm-up (also sets channels_last)
        naive_loop(files[:3], models, degree, device)
        naive_s = ours_s = math.inf
        for _ in range(args.repeats):
            t, naive_probs = timed(lambda: naive_loop(files, models, degree, device), device)
            naive_s = min(naive_s, t)
            t, out = timed(lambda: ours(series, models, degree, args.batch_size), device)
            if t < ours_s:
                ours_s, pred = t, out
        hu, _ = read_series(series)
    return {
        "naive_s": naive_s,
        "ours_s": ours_s,
        "pred": pred,
        "diff": float(np.abs(pred.slices - naive_probs).max()),
        "hu": hu,
        "models": models,
    }


def report_flops(pred: CasePrediction, models: Mapping[str, nn.Module], device: torch.device) -> None:
    flops = {arch: flops_per_image(model, INPUT_SIZE[arch], device) for arch, model in models.items()}
    total = sum(flops[a] * pred.n_images[a] for a in models)
    forward_s = sum(pred.timings[f"forward:{a}"] for a in models)
    peak = matmul_gflops(device)
    for arch in models:
        ms = 1e3 * pred.timings[f"forward:{arch}"] / pred.n_images[arch]
        print(f"  {arch}: {flops[arch] / 1e9:.3f} GFLOP per image, {ms:.1f} ms per image")
    anchor = f"{LEWICKI_CPU_MS:.0f} ms per ResNet-50 forward (laptop i7-5600U, Lewicki et al.)"
    print(f"Lewicki CPU anchor   : {anchor}")
    print(f"float32 torch.mm     : {peak:7.1f} GFLOP/s")
    for label, seconds in (("ours, forward only", forward_s), ("ours, predict_case", pred.timings["total"])):
        achieved = total / seconds / 1e9
        print(f"{label:21s}: {achieved:7.1f} GFLOP/s = {achieved / peak:.2f} of torch.mm  (target >= 0.75)")
    if device.type == "cuda":
        half = matmul_gflops(device, torch.float16)
        print(f"float16 torch.mm     : {half:7.1f} GFLOP/s (AMP runs the convolutions in float16)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", default="tiny", help="comma-separated archs (default tiny, the lite net)")
    parser.add_argument("--paper", action="store_true", help="the four nets of the paper's ensemble")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--slices", type=int, default=36)
    parser.add_argument("--batch-size", type=int, default=None, help="default: predict_case's for the device")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default torch's)")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    device = default_device(args.device)
    archs = list(PAPER_ARCHS) if args.paper else [a.strip() for a in args.archs.split(",") if a.strip()]
    cuda = device.type == "cuda"
    name = torch.cuda.get_device_name(device) if cuda else f"CPU, {torch.get_num_threads()} threads"
    batch = args.batch_size or (CUDA_BATCH_SIZE if cuda else CPU_BATCH_SIZE)
    print(f"device {name}; batch {batch} images; archs {', '.join(archs)}")

    r = contest(args, archs, device)
    pred, naive_s, ours_s, z = r["pred"], r["naive_s"], r["ours_s"], args.slices
    print(f"{z} slices of 512 x 512; images per run {pred.n_images}; best of {args.repeats}")
    print(f"naive per-slice loop : {naive_s:7.2f} s  {z / naive_s:7.1f} slices/s")
    print(f"ours (read+predict)  : {ours_s:7.2f} s  {z / ours_s:7.1f} slices/s")
    print(f"ratio ours/naive     : {naive_s / ours_s:7.2f}x  (target >= 3x); max |diff| {r['diff']:.1e}")
    steps = ", ".join(f"{k} {v:.3f}" for k, v in pred.timings.items())
    print(f"ours' best run, s    : read_series {ours_s - pred.timings['total']:.3f}, {steps}")
    report_flops(pred, r["models"], device)
    if cuda:
        hu = r["hu"] if z == 36 else generate_case(PhantomConfig(seed=1, slices_min=36, slices_max=36), 0).hu
        runs = paper_latency(hu, device, args.batch_size)
        print(
            f"paper ensemble, 36 slices: median {statistics.median(runs):.3f} s, best {min(runs):.3f} s "
            "(target < 0.5 s on an H100)"
        )


if __name__ == "__main__":
    main()
