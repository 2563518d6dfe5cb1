"""Training runs: start, one step per task (a net, then assembly), progress, cancel, model versions.

The run is a small state machine kept in its row. ``dispatch`` sends the next step (the first arch not yet
trained, else assembly) with a fresh ``attempt``; the task runs that step and dispatches the following one.
A step is idempotent: training resumes from the arch's last epoch checkpoint (``ml.train.train_arch``), so
a redelivered or re-dispatched step (worker killed, recovery sweep) continues where it stopped.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ichweb import dispatch
from ichweb.errors import RuleError
from ichweb.modeling import datasets
from ichweb.modeling.models import (
    AtlasEntry,
    ModelVersion,
    Stage,
    TrainingRun,
    atlas_image_path,
    being_worked_on,
)
from ml.bundle import file_sha256
from ml.recipes import RECIPES, Recipe
from ml.trainer import ProgressEvent

log = logging.getLogger(__name__)

#: Recipe fields a lead may change for one run (the rest define the recipe).
OVERRIDABLE = (
    "max_epochs",
    "max_steps_per_epoch",
    "batch_size",
    "seed",
    "input_size",
    "progress_every",
    "allow_random_init",  # start without ImageNet weights where the recipe requires them (paper)
    "device_preprocess",  # window/mix/resize/augment on the training device ("auto": on CUDA)
)
#: Seconds between progress writes of a running step (every epoch end is written too).
PROGRESS_EVERY_S = 1.0


class RunCancelled(Exception):
    """Raised inside a training step when its run was cancelled."""


class TrainingError(RuleError):
    def __init__(self, message: str, field: str = "recipe") -> None:
        super().__init__(message, field)


def recipe_of(run: TrainingRun) -> Recipe:
    base = RECIPES[run.recipe]
    return base.with_(**run.overrides) if run.overrides else base


def start_run(
    *,
    user,
    recipe: str,
    project_ids: Sequence[int] | None = None,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    seed: int = 0,
    overrides: dict[str, Any] | None = None,
    name: str = "",
    activate_when_done: bool = True,
    predict_all_when_done: bool = False,
) -> TrainingRun:
    """Freeze the dataset, create the run and dispatch its first step once the transaction commits.

    Raises:
        TrainingError / datasets.DatasetError: an unknown recipe or override, or data that cannot train.
    """
    if recipe not in RECIPES:
        raise TrainingError(f"unknown recipe {recipe!r}; choose one of {', '.join(RECIPES)}")
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    unknown = sorted(set(overrides) - set(OVERRIDABLE))
    if unknown:
        raise TrainingError(
            f"cannot override {', '.join(unknown)}; allowed: {', '.join(OVERRIDABLE)}", "overrides"
        )
    try:
        RECIPES[recipe].with_(**overrides)
    except (TypeError, ValueError) as exc:
        raise TrainingError(f"invalid recipe settings: {exc}", "overrides") from None
    snapshot = datasets.make_snapshot(
        project_ids=project_ids, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed
    )
    with transaction.atomic():
        run = TrainingRun.objects.create(
            name=name or f"{recipe} on {len(snapshot['cases'])} cases",
            recipe=recipe,
            overrides=overrides,
            snapshot=snapshot,
            snapshot_sha256=datasets.snapshot_sha256(snapshot),
            created_by=user,
            activate_when_done=activate_when_done,
            predict_all_when_done=predict_all_when_done,
            progress=_initial_progress(RECIPES[recipe].with_(**overrides)),
        )
        dispatch.training_step(run)
    return run


def _initial_progress(recipe: Recipe) -> dict[str, Any]:
    archs = {a: {"epoch": 0, "max_epochs": recipe.max_epochs, "done": False} for a in recipe.archs}
    return {"stage": "train", "archs": archs, "message": "waiting for a gpu worker"}


def next_step(run: TrainingRun) -> str:
    """The arch to train next, or ``"assemble"`` when every arch is done."""
    for arch in recipe_of(run).archs:
        if not run.progress.get("archs", {}).get(arch, {}).get("done"):
            return arch
    return "assemble"


def cancel_run(run: TrainingRun) -> TrainingRun:
    """Stop a run: a queued one at once, a running one at its next progress report."""
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().get(pk=run.pk)
        if run.finished:
            return run
        run.cancel_requested = True
        run.status, run.finished_at = Stage.CANCELLED, timezone.now()
        run.progress = {**run.progress, "message": "cancelled"}
        run.save(update_fields=["cancel_requested", "status", "finished_at", "progress"])
    return run


def _claim(run_id: int, attempt: int, owner: str) -> TrainingRun | None:
    """The run, now owned by worker ``owner``, if this delivery is current; None for a stale or duplicate."""
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.attempt != attempt or run.finished or being_worked_on(run):
            return None
        run.status, run.heartbeat_at, run.owner = Stage.RUNNING, timezone.now(), owner
        run.started_at = run.started_at or timezone.now()
        run.save(update_fields=["status", "heartbeat_at", "owner", "started_at"])
        return run


@contextmanager
def _current(run: TrainingRun) -> Iterator[TrainingRun]:
    """The run's row, locked in a transaction; ``RunCancelled`` once it was cancelled or sent again."""
    with transaction.atomic():
        row = TrainingRun.objects.select_for_update().get(pk=run.pk)
        if row.cancel_requested or row.attempt != run.attempt:
            raise RunCancelled
        yield row


class _Reporter:
    """Writes ``ProgressEvent``s to the run (at most once a second, always at epoch end); sees cancels."""

    def __init__(self, run: TrainingRun, arch: str, max_epochs: int) -> None:
        self.run, self.arch, self.max_epochs, self.last = run, arch, max_epochs, 0.0

    def __call__(self, event: ProgressEvent) -> None:
        now = time.monotonic()
        epoch_end = event.val_loss is not None
        if not epoch_end and now - self.last < PROGRESS_EVERY_S:
            return
        self.last = now
        row: dict[str, Any] = {
            "epoch": event.epoch,
            "max_epochs": self.max_epochs,
            "step": event.step,
            "steps_per_epoch": event.steps_per_epoch,
            "loss": round(event.loss, 5),
            "lr": event.lr,
            "done": False,
        }
        if event.val_loss is not None:  # epoch_end, spelt out so that mypy narrows val_loss
            row.update(val_loss=round(event.val_loss, 5), val_map=event.val_map, finished_epoch=event.epoch)
        self.update(
            row, f"training {self.arch}: epoch {event.epoch}, step {event.step}/{event.steps_per_epoch}"
        )

    def update(self, row: dict[str, Any], message: str) -> None:
        with _current(self.run) as run:
            archs = dict(run.progress.get("archs", {}))
            archs[self.arch] = {**archs.get(self.arch, {}), **row}
            history = list(run.progress.get("history", []))
            if "finished_epoch" in row:
                history.append(
                    {"arch": self.arch, **{k: row.get(k) for k in ("epoch", "loss", "val_loss", "val_map")}}
                )
            run.progress = {**run.progress, "archs": archs, "history": history, "message": message}
            run.heartbeat_at = timezone.now()
            run.save(update_fields=["progress", "heartbeat_at"])


def run_step(run_id: int, attempt: int, owner: str = "") -> str:
    """Run the run's current step (called by the gpu task on worker ``owner``); returns what happened."""
    run = _claim(run_id, attempt, owner)
    if run is None:
        return "stale"
    step = next_step(run)
    try:
        if step == "assemble":
            _assemble(run)
            return "assembled"
        _train(run, step)
    except RunCancelled:
        log.info("run %s cancelled during %s", run_id, step)
        return "cancelled"
    except Exception as exc:
        log.exception("run %s failed in %s", run_id, step)
        _fail(run, step, exc)
        return "failed"
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().get(pk=run_id)
        if run.attempt == attempt and not run.finished:
            dispatch.training_step(run)
    return f"trained {step}"


def _fail(run: TrainingRun, step: str, exc: Exception) -> None:
    TrainingRun.objects.filter(pk=run.pk, attempt=run.attempt).update(
        status=Stage.FAILED,
        error=f"{step}: {type(exc).__name__}: {exc}"[:2000],
        finished_at=timezone.now(),
    )


def _train(run: TrainingRun, arch: str) -> None:
    from ml.train import train_arch

    recipe = recipe_of(run)
    cases = datasets.split_cases(run.snapshot)
    reporter = _Reporter(run, arch, recipe.max_epochs)
    device = settings.ICHWEB_TRAIN_DEVICE or None
    _, summary, _ = train_arch(
        recipe, arch, cases["train"], cases["val"], run.folder, device=device, progress=reporter
    )
    reporter.update({**summary, "done": True}, f"{arch} trained")


def _assemble(run: TrainingRun) -> None:
    """Ensemble, operating points, atlas, test evaluation, then the ModelVersion (activated if asked)."""
    from ml.bundle import load_bundle
    from ml.train import assemble, trained_arch

    recipe = recipe_of(run)
    cases = datasets.split_cases(run.snapshot)
    out = run.folder

    def stage(message: str) -> None:
        with _current(run) as row:
            row.progress = {**row.progress, "stage": "assemble", "message": message}
            row.heartbeat_at = timezone.now()
            row.save(update_fields=["progress", "heartbeat_at"])

    stage("ensembling the nets and choosing the operating points on validation")
    models, per_arch, history = {}, {}, []
    for arch in recipe.archs:
        models[arch], per_arch[arch], rows = trained_arch(recipe, arch, out)
        history += rows
    device = settings.ICHWEB_TRAIN_DEVICE or None
    result = assemble(recipe, models, cases["val"], out, per_arch=per_arch, history=history, device=device)
    bundle = load_bundle(result.bundle_dir)

    stage("building the atlas of prediction-basis exemplars")
    atlas = _build_atlas(bundle, cases["train"], out)

    stage(f"evaluating on the test cohort ({len(cases['test'])} cases)")
    test_metrics = evaluate_cohort(bundle, cases["test"], device=device)

    files = sorted(p for p in out.rglob("*") if p.is_file() and "checkpoints" not in p.parts)
    artifacts = {str(p.relative_to(out)): file_sha256(p) for p in files}
    with _current(run) as row:
        version = ModelVersion.objects.create(
            run=row,
            name=f"{row.recipe} #{row.pk}",
            recipe=bundle.recipe,
            archs=bundle.archs,
            label_order=list(bundle.label_order),
            thresholds=bundle.thresholds,
            metrics={"validation": result.metrics, "test": test_metrics},
            directory=str(out.relative_to(settings.MEDIA_ROOT)),
            artifacts=artifacts,
            explain_arch=atlas.arch,
        )
        store_atlas_rows(version, atlas)
        row.status, row.finished_at = Stage.SUCCEEDED, timezone.now()
        row.progress = {**row.progress, "stage": "done", "message": f"model {version.name} ready"}
        row.save(update_fields=["status", "finished_at", "progress"])
        if row.activate_when_done:
            activate(version)
            if row.predict_all_when_done:
                from ichweb.modeling.inference import predict_all

                predict_all(version)


def _build_atlas(bundle: Any, train_cases: list, out: Path) -> Any:
    """Build and save the atlas of the bundle's explanation net into ``out/atlas``, with its thumbnails."""
    from ml.explain import build_bundle_atlas

    atlas_dir = out / "atlas"
    if atlas_dir.exists():
        shutil.rmtree(atlas_dir)
    cases: list[Any] = []
    total = 0
    for case in train_cases:  # the first cases up to the slice budget (the snapshot order is stable)
        if total + case.n_slices > settings.ICHWEB_ATLAS_MAX_SLICES and cases:
            break
        cases.append(case)
        total += case.n_slices
    atlas = build_bundle_atlas(bundle, cases, device=settings.ICHWEB_TRAIN_DEVICE or None)
    atlas.save(atlas_dir)
    write_atlas_images(atlas, atlas_dir)
    return atlas


def write_atlas_images(atlas: Any, atlas_dir: Path) -> None:
    """The review page's thumbnails of every atlas entry: its patch, and the patch under its map."""
    from ml.render import patch_thumbnail

    (atlas_dir / "images").mkdir(exist_ok=True)
    for i in range(len(atlas.entries)):
        atlas_image_path(atlas_dir, i, "patch").write_bytes(patch_thumbnail(atlas.patches[i]))
        atlas_image_path(atlas_dir, i, "map").write_bytes(
            patch_thumbnail(atlas.patches[i], map_=atlas.maps[i])
        )


def store_atlas_rows(version: ModelVersion, atlas: Any) -> None:
    AtlasEntry.objects.bulk_create(
        AtlasEntry(
            model_version=version,
            index=i,
            label=e.label,
            block=e.block,
            filter=e.filter,
            relevance=e.relevance,
            peak=float(e.activation),
            source_series_id=_series_id(e.case_id),
            source_slice_index=e.slice_index,
            box=list(e.box),
        )
        for i, e in enumerate(atlas.entries)
    )


def _series_id(case_id: str) -> int | None:
    prefix = "series-"
    return int(case_id[len(prefix) :]) if case_id.startswith(prefix) else None


def evaluate_cohort(bundle: Any, cases: list, *, device: str | None = None) -> dict[str, Any]:
    """Case-level AUC per label and sensitivity/specificity at the bundle's thresholds on a cohort."""
    from ml.infer import predict_bundle
    from ml.validation import cohort_metrics

    if not cases:
        return {"n_cases": 0}
    probs, truth = [], []
    n = len(bundle.label_order)
    for case in cases:
        pred = predict_bundle(bundle, np.asarray(case.volume()), device=device)
        probs.append(pred.case)
        truth.append(case.labels[:, :n].max(axis=0))
    return cohort_metrics(np.stack(truth), np.stack(probs), bundle.label_order, bundle.thresholds)


@transaction.atomic
def activate(version: ModelVersion) -> ModelVersion:
    """Make ``version`` the one active model (new series get its predictions)."""
    ModelVersion.objects.filter(is_active=True).exclude(pk=version.pk).update(is_active=False)
    ModelVersion.objects.filter(pk=version.pk).update(is_active=True)
    version.is_active = True
    return version
