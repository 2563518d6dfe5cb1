"""GPU readiness check: the ``paper`` recipe trained one short epoch on phantoms, then one case predicted and
explained the way the web app does it, stage by stage.

    .venv/bin/python bench/gpu_check.py [--device cuda|cpu] [--quick] [--steps 4] [--batch-size 64]
                                       [--train-cases 4] [--slices 24] [--test-slices 36] [--maps N]
                                       [--repeats 3] [--threads N] [--require-imagenet]

Stages, in order (each on ``--device``; default CUDA when torch sees it):

- ``data``: phantom cases in memory, 512 x 512 (``ml.phantom.generate_case``): training, validation and the
  test case of ``--test-slices`` (36) slices.
- ``train``: ``ml.train.train`` of the ``paper`` recipe (VGG16, ResNet-50, Inception-v3,
  Inception-ResNet-v2; M4) for one epoch of ``--steps`` steps per net; on CUDA with autocast (bfloat16
  where supported) and channels_last, as ``ml.trainer.RunSettings`` sets them. It includes each net's
  validation and the assembly (M4 validation of the ensemble, operating points, bundle). The nets start
  from ImageNet where the weights are at hand (``$ICHWEB_IMAGENET_WEIGHTS_DIR`` or the libraries' caches;
  downloads are off unless ``ICHWEB_IMAGENET_DOWNLOAD`` is set), else at random (``allow_random_init``;
  ``--require-imagenet`` refuses that): the timings do not depend on the weights. Which nets started from
  ImageNet is printed.
- ``atlas``: ``ml.explain.build_bundle_atlas`` of ResNet-50 on the training slices (the exemplars of the
  prediction basis), saved.
- ``load``: ``ml.bundle.load_bundle`` and ``ml.atlas.load_atlas``, as an inference worker starts.
- ``preprocess``: ``ml.preprocess.prepare_volume`` of the test case at 224 and 299 px on the device (on
  CUDA the int16 HU go to the GPU and are windowed, resized and normalised there), checked against the CPU
  (windowing equal within 1e-6, the whole input within 1e-4) and the M4 interpolation checked to stay on
  the device.
- ``predict``: ``ml.infer.predict_bundle`` of the test case: windowing, M4 interpolation at each net's
  degree, the four nets, the ensemble and the case decision.
- ``gradcam``: ``ml.explain.explain_case`` without an atlas: the eq. 5 map of label ANY on ``--maps``
  slices (default every slice; the web app maps at most 48 slice-label pairs per case).
- ``basis``: ``explain_case`` with the atlas: the maps and the prediction basis (eq. 6 maps, eq. 7
  ranking, questionnaire candidates), what the web app's inference job runs after ``predict``.
- ``case``: ``predict`` then ``basis`` in one timed block: the latency of one case (``--quick``: the sum
  of the two stages' runs).

Printed per stage: seconds (``predict``, ``gradcam``, ``basis``, ``case``: best and median of
``--repeats`` after a warm-up run), images/s where images go through nets, and peak memory (CUDA:
``torch.cuda.max_memory_allocated`` during the stage; CPU: the peak resident size of this process so far).
For ``train`` also each net's steady training rate (from step 2 on, with ``--steps`` >= 3). Last a verdict
against the target: the case (four-net ensemble with interpolation, Grad-CAM and prediction basis) in
< 0.5 s on one H100/H200; on a CPU the target does not apply. The exit status is 1 on any exception or
non-finite output, else 0.

``--quick`` shrinks everything so that a CPU runs it in well under a minute with one thread (the test suite
runs ``--device cpu --quick``): phantoms of 96 px, every net at 75 px (the smallest
input all four accept), one step of 8 images, 4-slice training and 6-slice test cases, one run per stage
without warm-up; its figures are a smoke test, not measurements.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ml.atlas import Atlas, load_atlas  # noqa: E402
from ml.bundle import Bundle, load_bundle  # noqa: E402
from ml.data import CaseData  # noqa: E402
from ml.device import default_device  # noqa: E402
from ml.explain import CaseExplanation, build_bundle_atlas, default_arch, explain_case  # noqa: E402
from ml.infer import BundlePrediction, predict_bundle  # noqa: E402
from ml.interpolation import interpolated_batch  # noqa: E402
from ml.phantom import PhantomConfig, generate_case  # noqa: E402
from ml.preprocess import prepare_volume, window_channels, window_channels_torch  # noqa: E402
from ml.recipes import RECIPES, Recipe  # noqa: E402
from ml.train import ProgressEvent, TrainResult, train  # noqa: E402
from ml.trainer import RunSettings  # noqa: E402
from ml.weights import ENV_DOWNLOAD  # noqa: E402

TARGET_S = 0.5
QUICK_INPUT = 75
T = TypeVar("T")


class CheckFailed(RuntimeError):
    """An output of a stage is wrong (not finite, on the wrong device, different from the CPU's)."""


@dataclass
class Stage:
    name: str
    seconds: float
    images: int | None = None
    peak_bytes: int = 0
    note: str = ""
    runs: list[float] = field(default_factory=list)

    @property
    def rate(self) -> str:
        return f"{self.images / self.seconds:9.1f}" if self.images and self.seconds > 0 else f"{'-':>9}"


class Meter:
    """Times stages on one device and keeps their peak memory."""

    def __init__(self, device: torch.device, warm_up: bool = True) -> None:
        self.device = device
        self.warm_up = warm_up
        self.cuda = device.type == "cuda"
        self.stages: list[Stage] = []

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.device)

    def start(self) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)

    def peak(self) -> int:
        if self.cuda:
            return int(torch.cuda.max_memory_allocated(self.device))
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # Linux: KiB

    def once(self, name: str, fn: Callable[[], T], images: int | None = None, note: str = "") -> T:
        self.start()
        t0 = time.perf_counter()
        out = fn()
        self.sync()
        self.add(Stage(name, time.perf_counter() - t0, images, self.peak(), note))
        return out

    def repeated(
        self, name: str, fn: Callable[[], T], repeats: int, images: int | None = None, note: str = ""
    ) -> T:
        """A warm-up call, then ``repeats`` timed calls; the stage keeps the best time and all runs."""
        if self.warm_up:
            fn()
        self.start()
        runs, out = [], None
        for _ in range(max(1, repeats)):
            self.sync()
            t0 = time.perf_counter()
            out = fn()
            self.sync()
            runs.append(time.perf_counter() - t0)
        self.add(Stage(name, min(runs), images, self.peak(), note, runs))
        assert out is not None
        return out

    def add(self, stage: Stage) -> None:
        self.stages.append(stage)
        median = f", median {statistics.median(stage.runs):.3f} s" if stage.runs else ""
        rate = f", {stage.rate.strip()} images/s" if stage.images else ""
        print(f"[{stage.name}] {stage.seconds:.3f} s{median}{rate}; {stage.note}".rstrip("; "), flush=True)

    def table(self) -> None:
        memory = "peak GPU memory" if self.cuda else "peak RSS so far"
        print(f"\n{'stage':11s} {'seconds':>8s} {'median':>8s} {'images/s':>9s} {memory:>16s}")
        for s in self.stages:
            median = f"{statistics.median(s.runs):8.3f}" if s.runs else f"{'-':>8}"
            print(f"{s.name:11s} {s.seconds:8.3f} {median} {s.rate} {s.peak_bytes / 2**30:12.2f} GiB")


def finite(name: str, *arrays: Any) -> None:
    for a in arrays:
        values = a.detach().float().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a, float)
        if not np.isfinite(values).all():
            raise CheckFailed(f"{name}: non-finite output")


@dataclass(frozen=True)
class Sizes:
    px: int
    train_cases: int
    val_cases: int
    slices: int
    test_slices: int
    steps: int
    batch: int
    input_size: int | None
    atlas_cases: int


def sizes_of(args: argparse.Namespace) -> Sizes:
    if args.quick:
        return Sizes(96, 2, 1, 4, 6, 1, 8, QUICK_INPUT, 1)
    return Sizes(
        512, args.train_cases, 2, args.slices, args.test_slices, args.steps, args.batch_size, None, 2
    )


def make_data(s: Sizes) -> tuple[list[CaseData], list[CaseData], np.ndarray]:
    """Training and validation cases (validation: ICH first, then a negative) and the test case's HU."""
    config = PhantomConfig(seed=5, size=s.px, slices_min=s.slices, slices_max=s.slices, denoised=True)
    pool = []
    for k in range(s.train_cases + 2 * s.val_cases + 4):
        c = generate_case(config, k)
        pool.append(CaseData(c.case_id, c.case_id, c.hu, c.labels, c.denoised))
    positive = [c for c in pool if c.is_positive]
    negative = [c for c in pool if not c.is_positive]
    val = (positive[:1] + negative[:1] + positive[1:])[: s.val_cases]
    rest = [c for c in pool if c not in val]
    train_cases = sorted(rest, key=lambda c: not c.is_positive)[: s.train_cases]  # ICH cases first
    test = PhantomConfig(seed=6, size=s.px, slices_min=s.test_slices, slices_max=s.test_slices)
    return train_cases, val, generate_case(test, 0).hu


class TrainClock:
    """Per-net training times from the progress events (``progress_every=1``)."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.events: list[tuple[float, ProgressEvent]] = []

    def __call__(self, event: ProgressEvent) -> None:
        self.events.append((time.perf_counter(), event))

    def lines(self, recipe: Recipe) -> list[str]:
        out, since = [], self.started
        for arch in recipe.archs:
            mine = [(t, e) for t, e in self.events if e.arch == arch]
            ends = [t for t, e in mine if e.val_loss is not None]
            if not ends:
                continue
            steps = [(t, e.step) for t, e in mine if e.val_loss is None]
            steps_of = f"{recipe.max_steps_per_epoch} steps of {recipe.batch_size}"
            text = f"{arch}: {ends[-1] - since:.2f} s for {steps_of}"
            if len(steps) >= 2:
                (t1, s1), (t2, s2) = steps[0], steps[-1]
                text += f", steady {(s2 - s1) * recipe.batch_size / (t2 - t1):.1f} images/s"
            out.append(text + " (with building, validation and checkpoint)")
            since = ends[-1]
        return out


def run_training(
    meter: Meter, recipe: Recipe, train_cases: list[CaseData], val_cases: list[CaseData], out: Path
) -> TrainResult:
    clock = TrainClock()

    def go() -> TrainResult:
        clock.started = time.perf_counter()
        return train(recipe, train_cases, val_cases, out, device=meter.device, progress=clock, resume=False)

    trained = len(recipe.archs) * (recipe.max_steps_per_epoch or 0) * recipe.batch_size
    result = meter.once("train", go, trained, f"{len(recipe.archs)} nets, incl. validation and assembly")
    for line in clock.lines(recipe):
        print(f"  {line}")
    for arch in recipe.archs:
        start = result.pretrained.get(arch)
        where = (
            f"ImageNet ({start.get('kind')}: {start.get('weights') or start.get('source')})"
            if start
            else "random"
        )
        print(f"  {arch} started from {where}")
    finite("train", [v for v in result.metrics.get("thresholds", {}).values() if v is not None])
    return result


def check_preprocess(meter: Meter, bundle: Bundle, hu: np.ndarray) -> None:
    sizes = sorted(set(bundle.input_size.values()))
    outputs: dict[int, torch.Tensor] = {}

    def go() -> dict[int, torch.Tensor]:
        for size in sizes:
            outputs[size] = prepare_volume(hu, bundle.windowing, size, meter.device)
        return outputs

    meter.repeated("preprocess", go, 3, len(hu) * len(sizes), f"sizes {sizes}, windowing {bundle.windowing}")
    on_device = window_channels_torch(torch.from_numpy(hu[:4]).to(meter.device), bundle.windowing)
    window_diff = float(
        (on_device.cpu() - torch.from_numpy(window_channels(hu[:4], bundle.windowing))).abs().max()
    )
    input_diff = max(
        float((outputs[s].cpu() - prepare_volume(hu, bundle.windowing, s)).abs().max()) for s in sizes
    )
    images, _ = interpolated_batch(outputs[sizes[0]], 5)
    print(
        f"  device vs CPU: windowing max |diff| {window_diff:.1e}, network input {input_diff:.1e}; "
        f"interpolation ran on {images.device}"
    )
    finite("preprocess", *outputs.values())
    if window_diff > 1e-6 or input_diff > 1e-4:
        raise CheckFailed(
            f"preprocess: the device differs from the CPU ({window_diff:.1e}, {input_diff:.1e})"
        )
    if images.device != outputs[sizes[0]].device:
        raise CheckFailed(f"interpolation left the device: {images.device}")


def check_explanation(name: str, explained: CaseExplanation, with_basis: bool) -> None:
    items = list(explained)
    finite(name, *[item.map for item in items], [item.probability for item in items])
    if with_basis:
        finite(name, [b.distance for item in items for b in item.basis])
        counts = [len(item.basis) for item in items]
        print(f"  basis entries per map: {min(counts)}-{max(counts)} (top 5 kept)")


def verdict(meter: Meter, case: Stage) -> str:
    median = statistics.median(case.runs)
    if meter.cuda:
        ok = "PASS" if median < TARGET_S else "MISS"
        return f"case latency median {median:.3f} s, best {case.seconds:.3f} s: {ok} (target < {TARGET_S} s)"
    return (
        f"case latency median {median:.3f} s on the CPU; the target (< {TARGET_S} s for the 36-slice case) "
        "applies to one H100/H200 GPU"
    )


def run(args: argparse.Namespace) -> int:
    device = default_device(args.device)
    meter = Meter(device, warm_up=not args.quick)
    s = sizes_of(args)
    recipe = RECIPES["paper"].with_(
        max_epochs=1,
        max_steps_per_epoch=s.steps,
        batch_size=s.batch,
        input_size=s.input_size,
        allow_random_init=not args.require_imagenet,
        progress_every=1,
    )
    settings = RunSettings.create(recipe, device)
    name = torch.cuda.get_device_name(device) if meter.cuda else f"CPU, {torch.get_num_threads()} threads"
    amp = f"autocast {settings.amp_dtype}, channels_last" if settings.amp_dtype else "float32"
    print(f"device {name}; training {amp}, {settings.num_workers} loader workers; torch {torch.__version__}")
    if args.quick:
        print(
            f"quick mode: {s.px} px phantoms, {s.test_slices}-slice test case, every net at {QUICK_INPUT} "
            f"px, {s.steps} step of {s.batch}, one run per stage without warm-up: a smoke test, not figures"
        )
    train_cases, val_cases, hu = meter.once(
        "data",
        lambda: make_data(s),
        note=f"{s.train_cases} training + {s.val_cases} validation cases of {s.slices} slices, "
        f"test case {s.test_slices} slices, {s.px} px",
    )
    with tempfile.TemporaryDirectory(prefix="ichweb-gpu-check-") as tmp:
        out = Path(tmp)
        result = run_training(meter, recipe, train_cases, val_cases, out / "run")
        bundle = load_bundle(result.bundle_dir)
        arch = default_arch(bundle)
        atlas_cases = train_cases[: s.atlas_cases]
        n_atlas = sum(c.n_slices for c in atlas_cases)

        def build() -> Atlas:
            return build_bundle_atlas(bundle, atlas_cases, arch, device=device)

        atlas = meter.once("atlas", build, n_atlas, f"{arch}, {n_atlas} training slices")
        atlas.save(out / "atlas")
        print(f"  atlas entries per label: {atlas.counts()}")

        def load() -> tuple[Bundle, Atlas]:
            return load_bundle(result.bundle_dir), load_atlas(out / "atlas")

        bundle, atlas = meter.once("load", load, note="bundle (4 nets) and atlas")
        check_preprocess(meter, bundle, hu)

        n_images = len(hu) * sum(bundle.degree[a] for a in bundle.archs)
        pred: BundlePrediction = meter.repeated(
            "predict",
            lambda: predict_bundle(bundle, hu, device=device),
            args.repeats,
            n_images,
            "ensemble of 4 nets, M4 interpolation",
        )
        print(
            f"  images forwarded {pred.n_images}; steps of the best run, s: "
            + ", ".join(f"{k} {v:.3f}" for k, v in pred.timings.items())
        )
        finite("predict", pred.slices, pred.case)
        slices = list(range(len(hu)))[: args.maps or len(hu)]

        def explain(with_atlas: bool) -> CaseExplanation:
            return explain_case(
                bundle, hu, slices=slices, labels=["ANY"], atlas=atlas if with_atlas else None, device=device
            )

        note = f"{arch}, label ANY on {len(slices)} slices"
        cams = meter.repeated("gradcam", lambda: explain(False), args.repeats, len(slices), note)
        check_explanation("gradcam", cams, False)
        based = meter.repeated("basis", lambda: explain(True), args.repeats, len(slices), note + " + atlas")
        check_explanation("basis", based, True)

        def case() -> tuple[BundlePrediction, CaseExplanation]:
            return predict_bundle(bundle, hu, device=device), explain(True)

        if args.quick:  # the sum of the two stages' runs, to keep the smoke test short
            by_name = {stage.name: stage for stage in meter.stages}
            runs = [a + b for a, b in zip(by_name["predict"].runs, by_name["basis"].runs, strict=True)]
            note = f"predict + basis, {len(hu)} slices (quick mode: the sum of the two runs)"
            meter.add(Stage("case", min(runs), n_images, meter.peak(), note, runs))
        else:
            meter.repeated("case", case, args.repeats, n_images, f"predict + basis, {len(hu)} slices")
    meter.table()
    print(verdict(meter, meter.stages[-1]))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test (module doc)")
    parser.add_argument("--steps", type=int, default=4, help="training steps per net")
    parser.add_argument("--batch-size", type=int, default=64, help="training images per step")
    parser.add_argument("--train-cases", type=int, default=4)
    parser.add_argument("--slices", type=int, default=24, help="slices per training case")
    parser.add_argument("--test-slices", type=int, default=36, help="slices of the predicted case")
    parser.add_argument("--maps", type=int, default=None, help="slices to explain (default all)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs after the warm-up")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default torch's)")
    parser.add_argument("--require-imagenet", action="store_true", help="fail without ImageNet weights")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.repeats = 1
    os.environ.setdefault(ENV_DOWNLOAD, "0")
    try:
        return run(args)
    except Exception:
        traceback.print_exc()
        print("gpu_check FAILED", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
