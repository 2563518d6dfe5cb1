"""ICHweb against a real Orthanc (Debian ``orthanc`` + ``orthanc-dicomweb``): Orthanc pushes a study to
ICHweb's C-STORE listener, and ICHweb sends its SR and SEG exports to Orthanc."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from pydicom.uid import Comprehensive3DSRStorage, SegmentationStorage

from ichweb.imaging.models import ImportJob, Study
from ichweb.interop import send
from ichweb.interop.models import ExportDestination, ReceivedStudy, SendJob
from ichweb.modeling import demo
from ichweb.modeling.models import InferenceJob, Stage
from tests.conftest import require_tool
from tests.interop.orthanc import DICOMWEB_PLUGIN, ORTHANC, Orthanc, running_orthanc
from tests.interop.test_export import job, series, truth
from tests.interop.test_listener import listen, wait_for

__all__ = ["job", "listen", "series", "truth"]


@pytest.fixture
def start_orthanc(tmp_path: Path) -> Iterator[Callable[[int], Orthanc]]:
    """``start_orthanc(listener_port)``: a real Orthanc with DICOMweb in a temporary folder (it may send to
    ICHweb's listener on ``listener_port`` as modality ``ichweb``), stopped at teardown."""
    require_tool(ORTHANC, "orthanc")
    if not Path(DICOMWEB_PLUGIN).exists():
        require_tool(DICOMWEB_PLUGIN, "orthanc-dicomweb")
    with ExitStack() as running:

        def start(listener_port: int = 104) -> Orthanc:
            peers = {"ichweb": ("ICHWEB", "127.0.0.1", listener_port)}
            return running.enter_context(
                running_orthanc(tmp_path / "orthanc", modalities=peers, dicomweb=True)
            )

        yield start


def test_orthanc_pushes_a_study_that_the_listener_imports_and_the_active_model_reads(
    listen, start_orthanc, series_files, settings, tmp_path
):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    version = demo.install_demo_model()  # the shipped lite bundle: a real model, a real inference
    assert version is not None
    listener = listen(idle_s=0.5, allowed=("ORTHANC",))
    orthanc = start_orthanc(listener.port)
    ids = [orthanc.post("/instances", p.read_bytes())["ID"] for p in series_files]
    assert len(set(ids)) == 8
    (study_id,) = orthanc.get("/studies")
    answer = orthanc.post("/modalities/ichweb/store", json.dumps({"Resources": [study_id]}))
    assert answer["InstancesCount"] == 8 and answer["FailedInstancesCount"] == 0, answer
    imported = ReceivedStudy.objects.filter(status=ReceivedStudy.Status.IMPORTED)
    wait_for(imported.exists, "the import")
    received = ReceivedStudy.objects.get()
    assert received.calling_ae == "ORTHANC" and received.n_instances == 8 and received.n_refused == 0
    study = Study.objects.get()
    assert received.study_uid == study.study_uid and study.series.get().n_slices == 8
    assert received.import_job is not None and received.import_job.status == ImportJob.Status.DONE
    # The import queued the active model's inference (run in-process here), which read every slice.
    inference = InferenceJob.objects.get(series=study.series.get(), model_version=version)
    assert inference.status == Stage.SUCCEEDED, (inference.status, inference.error)
    assert inference.slice_predictions.count() == 8
    assert set(inference.case_probabilities) == set(version.label_order) and inference.attention_maps.exists()


def send_all(destination: ExportDestination, series_pk: int, job_pk: int) -> None:
    """Send the ground-truth SR, the findings SR and the SEG to ``destination`` in-process; each is sent."""
    for what, object_id in (("ground-truth", series_pk), ("findings", job_pk), ("seg", job_pk)):
        row = SendJob.objects.create(what=what, object_id=object_id, destination=destination)
        row.next_attempt()
        assert send.run(row.pk, row.dispatch) == "sent", SendJob.objects.get(pk=row.pk).last_error


def stored_classes(orthanc: Orthanc) -> list[tuple[str, str, str]]:
    """(SOPClassUID, Modality, StudyInstanceUID) of every instance Orthanc holds, sorted."""
    tags = [orthanc.get(f"/instances/{i}/simplified-tags") for i in orthanc.get("/instances")]
    return sorted((t["SOPClassUID"], t["Modality"], t["StudyInstanceUID"]) for t in tags)


@pytest.mark.parametrize("kind", ["cstore", "stow"])
def test_ichweb_sends_its_sr_and_seg_exports_to_orthanc(kind, start_orthanc, truth, job, series, settings):
    settings.ICHWEB_EXPORT_TIMEOUT_S = 10
    orthanc = start_orthanc()
    if kind == "cstore":
        destination = ExportDestination.objects.create(
            name="orthanc",
            kind="cstore",
            host="127.0.0.1",
            port=orthanc.dicom_port,
            called_ae="ORTHANC",
            calling_ae="ICHWEB",
        )
    else:
        destination = ExportDestination.objects.create(
            name="orthanc", kind="stow", url=f"{orthanc.url}/dicom-web/studies"
        )
    send_all(destination, series.pk, job.pk)
    study_uid = series.study.study_uid
    sr, seg = (Comprehensive3DSRStorage, "SR", study_uid), (SegmentationStorage, "SEG", study_uid)
    assert stored_classes(orthanc) == sorted([sr, sr, seg])
