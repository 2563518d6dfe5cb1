"""Input pipeline: images/s of one DataLoader worker for the ``paper`` recipe's training inputs, and how many
workers feed a GPU, for today's path and for the device path (``Recipe.device_preprocess``).

    .venv/bin/python bench/data_pipeline.py [--cases 6] [--slices 24] [--images 320] [--batch-size 64]
                                           [--sizes 224,299] [--target 3000] [--max-workers 12]
                                           [--device cpu|cuda] [--quick]

The cases are 512 x 512 phantoms (the size of real CT) with a scanner-denoised series, saved as ``.npy``
files in a temporary folder and memory-mapped as in training (``ml.data.CaseData`` with paths). The images
are the ``paper`` recipe's M4 training items (``ml.slices.SliceDataset``: originals and interpolated
images, augmentation with the noise choice) in the order and with the ``b`` and seeds of
``ml.slices.SliceBatchSampler``, windowing ``paper``: read -> window -> interpolate -> resize + normalise
-> augment.

Printed per input size (224: VGG16 and ResNet-50; 299: Inception-v3 and Inception-ResNet-v2), for each path:
today's (the workers window, mix, resize, normalise and augment: ``ml.slices.make_loader``) and the device
path (the workers read the int16 HU and the draws, ``ml.slices.make_raw_loader``; ``ml.gpu_batch``):

- images/s of one worker, measured over ``--images`` images after one warm-up batch: ``num_workers=0``
  (the work alone, in this process with one torch thread as a DataLoader worker has) and
  ``num_workers=1`` (one worker process: adds the batch's trip to the main process);
- the workers needed for ``--target`` images/s (3,000: an H100 training ResNet-50 with AMP),
  ``ceil(target / one worker process's rate)``, with PASS or MISS against ``--max-workers`` (12);
- for the device path, the images/s of the device side (``ml.gpu_batch.DeviceTransform`` with the batch's
  transfer) on ``--device`` (default: CUDA when present, else this CPU with one torch thread, which only
  shows the cost, not what a GPU gives), and the largest difference between its batch and today's;
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
from typing import cast

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ml.augment import air_value, apply_geometric, denoise, sample_params  # noqa: E402
from ml.data import CaseData  # noqa: E402
from ml.device import default_device  # noqa: E402
from ml.gpu_batch import DeviceTransform, RawBatch  # noqa: E402
from ml.interpolation import interpolate_training_volume  # noqa: E402
from ml.phantom import PhantomConfig, generate_case  # noqa: E402
from ml.preprocess import normalize, resize, window_channels  # noqa: E402
from ml.recipes import RECIPES  # noqa: E402
from ml.slices import SliceBatchSampler, SliceDataset, SliceKey, make_loader, make_raw_loader  # noqa: E402

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


class FixedBatches(SliceBatchSampler):
    """A sampler that gives the same, already drawn batches of keys."""

    def __init__(self, dataset: SliceDataset, batches: Sequence[list[SliceKey]]) -> None:
        super().__init__(dataset, len(batches[0]))
        self.batches = list(batches)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def loader_rate(
    dataset: SliceDataset, batches: Sequence[list[SliceKey]], num_workers: int, images: int, raw: bool = False
) -> tuple[float, int]:
    """Images/s after the first batch (warm-up, and the worker's start-up), over at least ``images``.

    ``raw``: the device path's loader (batches of int16 HU, ``make_raw_loader``); else today's.
    """
    make = make_raw_loader if raw else make_loader
    seen, started = 0, 0.0
    for k, batch in enumerate(make(dataset, FixedBatches(dataset, batches), num_workers=num_workers)):
        if k == 0:
            started = time.perf_counter()
            continue
        seen += len(batch) if isinstance(batch, RawBatch) else len(batch[0])
        if seen >= images:
            break
    return seen / (time.perf_counter() - started), seen


def device_rate(
    dataset: SliceDataset, batches: Sequence[list[SliceKey]], device: torch.device, images: int
) -> tuple[float, float]:
    """Images/s of the device side (pinned batch -> device -> ``DeviceTransform``) after one warm-up batch,
    and the largest difference between its first batch and today's path's."""
    transform = DeviceTransform(dataset.windowing, dataset.size)
    cuda = device.type == "cuda"
    spent, seen, worst = 0.0, 0, 0.0
    for k, raw in enumerate(make_raw_loader(dataset, FixedBatches(dataset, batches), pin_memory=cuda)):
        if cuda:
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        out = transform(raw.to(device))
        if cuda:
            torch.cuda.synchronize(device)
        if k == 0:
            today = torch.stack([dataset[key][0] for key in batches[0]])
            worst = float((out.cpu() - today).abs().max())
            continue
        spent += time.perf_counter() - t0
        seen += len(raw)
        if seen >= images:
            break
    return seen / spent, worst


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


def run_size(cases: list[CaseData], size: int, args: argparse.Namespace) -> dict[str, object]:
    """The figures of one input size (``report`` prints them)."""
    recipe = RECIPES["paper"]
    dataset = SliceDataset(cases, recipe.step, windowing=recipe.windowing, size=size, native_size=size)
    need = -(-args.images // args.batch_size) + 1
    batches: list[list[SliceKey]] = []
    while len(batches) < need:  # a small dataset goes round again, with other draws
        sampler = SliceBatchSampler(dataset, args.batch_size, seed=len(batches), drop_last=True)
        batches += keys_of(sampler)
    batches = batches[:need]
    figures: dict[str, object] = {}
    (rate0, figures["n"]), (rate1, _) = (loader_rate(dataset, batches, w, args.images) for w in (0, 1))
    figures["today"] = [rate0, rate1]
    figures["raw"] = [loader_rate(dataset, batches, w, args.images, raw=True)[0] for w in (0, 1)]
    figures["device"] = device_rate(dataset, batches, args.device, args.images)
    keys = [k for b in batches[1:] for k in b][: args.images]
    breakdown(dataset, keys[: args.batch_size])  # warm-up
    spent = breakdown(dataset, keys)
    figures["per_image"] = {stage: 1e3 * seconds / len(keys) for stage, seconds in spent.items()}
    return figures


def verdict(rate: float, args: argparse.Namespace) -> str:
    workers = math.ceil(args.target / rate)
    mark = "PASS" if workers <= args.max_workers else "MISS"
    return f"workers for {args.target:,.0f} images/s: {workers}  ({mark}, target <= {args.max_workers})"


def report(size: int, figures: dict[str, object], args: argparse.Namespace) -> None:
    today, raw = cast("list[float]", figures["today"]), cast("list[float]", figures["raw"])
    device_images, worst = cast("tuple[float, float]", figures["device"])
    per_image = cast("dict[str, float]", figures["per_image"])
    print(f"\n{size} px ({figures['n']} images per measurement)")
    for name, rates in (("today's path (float work in the workers)", today), ("device path", raw)):
        if rates is raw:
            name += " (workers read int16 HU; the device windows, mixes, resizes, augments)"
        print(f"  {name}:")
        print(f"    one worker, in process (num_workers=0): {rates[0]:8.1f} images/s")
        print(f"    one worker process     (num_workers=1): {rates[1]:8.1f} images/s")
        print(f"    {verdict(rates[1], args)}")
    device = args.device
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{device}, 1 torch thread"
    note = "" if device.type == "cuda" else "  (a CPU stands in for the GPU: the cost, not a GPU figure)"
    print(f"    device side on {where}: {device_images:8.1f} images/s{note}")
    print(f"    device batch vs today's batch: max |difference| {worst:.2g}")
    staged = sum(per_image[s] for s in STAGES)
    total = 1e3 / today[0]
    parts = ", ".join(f"{s} {per_image[s]:.2f}" for s in STAGES)
    print(f"  today's path, ms per image: {parts}; rest {max(total - staged, 0.0):.2f}; total {total:.2f}")
    largest = max(STAGES, key=lambda stage: per_image[stage])
    print(f"  largest stage: {largest}, {100 * per_image[largest] / staged:.0f} % of the staged time")
    print(
        f"  3x3 median instead of a scanner series (for the half of the images drawn denoised): "
        f"{per_image['median']:.2f} ms more per image on average"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=6)
    parser.add_argument("--slices", type=int, default=24, help="slices per case")
    parser.add_argument("--images", type=int, default=320, help="images timed per measurement")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--sizes", default="224,299", help="network input sides")
    parser.add_argument("--target", type=float, default=3000.0, help="images/s the GPU consumes")
    parser.add_argument("--max-workers", type=int, default=12, help="the worker budget (target <= 12)")
    parser.add_argument("--device", default=None, help="device of the device path (default: cuda if present)")
    parser.add_argument("--quick", action="store_true", help="a few-second smoke run (2 cases, 32 images)")
    args = parser.parse_args()
    args.device = default_device(args.device)
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
            report(size, run_size(cases, size, args), args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
