"""Input pipeline: images/s of one DataLoader worker for the ``paper`` recipe's training inputs, and how many
workers feed a GPU.

    .venv/bin/python bench/data_pipeline.py [--cases 6] [--slices 24] [--images 320] [--batch-size 64]
                                           [--sizes 224,299] [--target 3000] [--max-workers 12] [--quick]

The cases are 512 x 512 phantoms (the size of real CT) with a scanner-denoised series, saved as ``.npy``
files in a temporary folder and memory-mapped as in training (``ml.data.CaseData`` with paths). The images
are the ``paper`` recipe's M4 training items (``ml.slices.SliceDataset``: originals and interpolated
images, augmentation with the noise choice) in the order and with the ``b`` and seeds of
``ml.slices.SliceBatchSampler``, windowing ``paper``: read -> window -> interpolate -> resize + normalise
-> augment.

Printed per input size (224: VGG16 and ResNet-50; 299: Inception-v3 and Inception-ResNet-v2):

- images/s of one worker, measured over ``--images`` images after one warm-up batch: ``num_workers=0``
  (the work alone, in this process with one torch thread as a DataLoader worker has) and
  ``num_workers=1`` (one worker process: adds the batch's trip to the main process);
- the workers needed for ``--target`` images/s (3,000: an H100 training ResNet-50 with AMP),
  ``ceil(target / one worker process's rate)``, with PASS or MISS against ``--max-workers`` (12);
- where an image's time goes (ms per image, averaged over the same items): read, window, interpolate,
  resize + normalise, augment, timed by calling those functions directly, and the rest (Python, collate),
  then the largest stage;
  also the 3 x 3 median that replaces the scanner's denoised series for cases without one (not part of the
  run above: the phantoms have a scanner series).

Real training reads its cases the same way (memory-mapped ``.npy``); a worker count scales on a machine
with that many free cores.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ml.augment import air_value, apply_geometric, denoise, sample_params  # noqa: E402
from ml.data import CaseData  # noqa: E402
from ml.interpolation import interpolate_training_volume  # noqa: E402
from ml.phantom import PhantomConfig, generate_case  # noqa: E402
from ml.preprocess import normalize, resize, window_channels  # noqa: E402
from ml.recipes import RECIPES  # noqa: E402
from ml.slices import SliceBatchSampler, SliceDataset, SliceKey, make_loader  # noqa: E402

STAGES = ("read", "window", "interpolate", "resize+normalise", "augment")


def make_cases(folder: Path, n_cases: int, n_slices: int, size: int) -> list[CaseData]:
    """Phantom cases with a denoised series, stored as ``.npy`` and given to ``CaseData`` as paths."""
    config = PhantomConfig(seed=11, size=size, slices_min=n_slices, slices_max=n_slices, denoised=True)
    cases = []
    for k in range(n_cases):
        case = generate_case(config, k)
        hu, denoised = folder / f"case{k}.npy", folder / f"case{k}-denoised.npy"
        np.save(hu, case.hu)
        np.save(denoised, case.denoised)
        cases.append(CaseData(case.case_id, case.case_id, hu, case.labels, denoised))
    return cases


def keys_of(sampler: SliceBatchSampler) -> list[list[SliceKey]]:
    sampler.set_epoch(1)
    return list(sampler)


def loader_rate(
    dataset: SliceDataset, batches: Sequence[list[SliceKey]], num_workers: int, images: int
) -> tuple[float, int]:
    """Images/s after the first batch (warm-up, and the worker's start-up), over at least ``images``."""

    class Fixed(SliceBatchSampler):
        def __iter__(self):  # type: ignore[no-untyped-def]
            return iter(batches)

        def __len__(self) -> int:
            return len(batches)

    sampler = Fixed(dataset, len(batches[0]))
    seen, started = 0, 0.0
    for k, (x, _) in enumerate(make_loader(dataset, sampler, num_workers=num_workers)):
        if k == 0:
            started = time.perf_counter()
            continue
        seen += len(x)
        if seen >= images:
            break
    return seen / (time.perf_counter() - started), seen


def breakdown(dataset: SliceDataset, keys: Sequence[SliceKey]) -> dict[str, float]:
    """Seconds per stage over ``keys``: each function timed alone, called as ``SliceDataset`` calls it."""
    spent = dict.fromkeys((*STAGES, "median"), 0.0)
    fill = air_value(dataset.windowing)
    clock = time.perf_counter
    for key in keys:
        ci, s, t, bi = (int(v) for v in dataset.items[key.item])
        rows = [s] if t < 0 else [s, t]
        case = dataset.cases[ci]
        params = sample_params(np.random.default_rng(key.seed))
        source = case.denoised_volume() if params.denoised else case.volume()
        assert source is not None
        t0 = clock()
        hu = np.asarray(source[rows])
        t1 = clock()
        if params.denoised:
            denoise(hu)
        t2 = clock()
        x = window_channels(hu, dataset.windowing)
        t3 = clock()
        if t >= 0:
            assert key.betas is not None
            y = case.labels[rows, : dataset.step.n_outputs]
            x = interpolate_training_volume(x, y, key.betas, slices=[0])[0][bi : bi + 1]
        t4 = clock()
        image = normalize(resize(torch.from_numpy(np.ascontiguousarray(x)), dataset.size))
        t5 = clock()
        apply_geometric(image[0], params, fill=fill, pixel_scale=dataset.pixel_scale)
        t6 = clock()
        for stage, seconds in zip(
            ("read", "median", "window", "interpolate", "resize+normalise", "augment"),
            (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5),
            strict=True,
        ):
            spent[stage] += seconds
    return spent


def run_size(
    cases: list[CaseData], size: int, args: argparse.Namespace
) -> tuple[float, float, dict[str, float], int]:
    recipe = RECIPES["paper"]
    dataset = SliceDataset(cases, recipe.step, windowing=recipe.windowing, size=size, native_size=size)
    need = -(-args.images // args.batch_size) + 1
    batches: list[list[SliceKey]] = []
    while len(batches) < need:  # a small dataset goes round again, with other draws
        sampler = SliceBatchSampler(dataset, args.batch_size, seed=len(batches), drop_last=True)
        batches += keys_of(sampler)
    batches = batches[:need]
    rate0, n0 = loader_rate(dataset, batches, 0, args.images)
    rate1, _ = loader_rate(dataset, batches, 1, args.images)
    keys = [k for b in batches[1:] for k in b][: args.images]
    breakdown(dataset, keys[: args.batch_size])  # warm-up
    spent = breakdown(dataset, keys)
    per_image = {stage: 1e3 * seconds / len(keys) for stage, seconds in spent.items()}
    return rate0, rate1, per_image, n0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=6)
    parser.add_argument("--slices", type=int, default=24, help="slices per case")
    parser.add_argument("--images", type=int, default=320, help="images timed per measurement")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--sizes", default="224,299", help="network input sides")
    parser.add_argument("--target", type=float, default=3000.0, help="images/s the GPU consumes")
    parser.add_argument("--max-workers", type=int, default=12, help="the worker budget (target <= 12)")
    parser.add_argument("--quick", action="store_true", help="a few-second smoke run (2 cases, 32 images)")
    args = parser.parse_args()
    if args.quick:
        args.cases, args.slices, args.images, args.batch_size = 2, 8, 32, 16

    torch.set_num_threads(1)  # what a DataLoader worker gets
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    with tempfile.TemporaryDirectory(prefix="ichweb-pipeline-") as tmp:
        t0 = time.perf_counter()
        cases = make_cases(Path(tmp), args.cases, args.slices, 512)
        n_slices = sum(c.n_slices for c in cases)
        print(
            f"{args.cases} phantom cases, {n_slices} slices of 512 x 512 as memory-mapped .npy with a "
            f"denoised series ({time.perf_counter() - t0:.1f} s to make); paper recipe, M4, windowing paper; "
            f"batch {args.batch_size}; torch threads 1"
        )
        if args.quick:
            print("quick mode: 2 cases of 8 slices, 32 images per measurement: a smoke run, not a figure")
        for size in sizes:
            rate0, rate1, per_image, n = run_size(cases, size, args)
            workers = math.ceil(args.target / rate1)
            verdict = "PASS" if workers <= args.max_workers else "MISS"
            print(f"\n{size} px ({n} images per measurement)")
            print(f"  one worker, in process (num_workers=0): {rate0:7.1f} images/s")
            print(f"  one worker process     (num_workers=1): {rate1:7.1f} images/s")
            print(
                f"  workers for {args.target:,.0f} images/s: {workers}  "
                f"({verdict}, target <= {args.max_workers})"
            )
            staged = sum(per_image[s] for s in STAGES)
            total = 1e3 / rate0
            parts = ", ".join(f"{s} {per_image[s]:.2f}" for s in STAGES)
            print(f"  ms per image: {parts}; rest {max(total - staged, 0.0):.2f}; total {total:.2f}")
            largest = max(STAGES, key=lambda stage: per_image[stage])
            print(f"  largest stage: {largest}, {100 * per_image[largest] / staged:.0f} % of the staged time")
            print(
                f"  3x3 median instead of a scanner series (for the half of the images drawn denoised): "
                f"{per_image['median']:.2f} ms more per image on average"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
