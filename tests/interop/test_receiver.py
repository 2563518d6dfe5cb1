"""Received studies between the listener and the workers: hand-over, import, inference, redelivery."""

from __future__ import annotations

import pydicom
import pytest

from ichweb import dispatch
from ichweb.imaging.models import ImportJob, Series
from ichweb.interop import pseudonyms, receiver
from ichweb.interop.models import ReceivedStudy
from ichweb.modeling.models import InferenceJob, Stage
from tests.modeling.factories import ModelVersionFactory

pytestmark = pytest.mark.django_db
Status = ReceivedStudy.Status


@pytest.fixture
def sent(settings, tmp_path, monkeypatch) -> list[tuple[str, dict]]:
    """Messages to the workers, caught instead of sent."""
    settings.ICHWEB_DICOM_SPOOL_DIR = tmp_path / "spool"
    caught: list[tuple[str, dict]] = []
    monkeypatch.setattr(dispatch, "send", lambda name, **kwargs: caught.append((name, kwargs)))
    return caught


def receive(files, calling: str = "PACS") -> int:
    batch = 0
    for path in files:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        batch = receiver.record_instance(ds.StudyInstanceUID, ds.SOPInstanceUID, calling, path.read_bytes())
    return batch


def hand_over(capture) -> list[int]:
    with capture(execute=True):
        return receiver.hand_over_idle(0)


def test_an_imported_study_queues_the_active_models_inference(
    series_files, sent, django_capture_on_commit_callbacks
):
    version = ModelVersionFactory(is_active=True)
    receive(series_files)
    hand_over(django_capture_on_commit_callbacks)
    ((name, message),) = sent
    assert name == dispatch.TASK_IMPORT_RECEIVED and message["attempt"] == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert receiver.import_received(message["received_id"], message["attempt"]) == Status.IMPORTED
    series = Series.objects.get()
    job = InferenceJob.objects.get(series=series, model_version=version)
    assert job.status == Stage.QUEUED
    assert (dispatch.TASK_INFERENCE, {"job_id": job.pk, "attempt": job.attempt}) in sent


def test_a_batch_is_keyed_by_the_de_identified_study_uid_and_a_resent_instance_counts_once(
    series_files, sent
):
    batch = receive(series_files[:3] + series_files[:1])
    received = ReceivedStudy.objects.get(pk=batch)
    original = pydicom.dcmread(series_files[0]).StudyInstanceUID
    assert received.study_uid == pseudonyms.uid(original) != original
    assert received.n_instances == 3 and len(list(received.spool_dir.glob("*.dcm"))) == 3


def test_a_batch_still_receiving_is_not_handed_over(series_files, sent):
    receive(series_files[:2])
    assert receiver.hand_over_idle(3600) == []
    assert ReceivedStudy.objects.get().status == Status.RECEIVING and not sent


def test_a_batch_whose_every_instance_was_refused_fails_without_an_import(series_files, sent):
    ds = pydicom.dcmread(series_files[0])
    receiver.record_refusal(ds.StudyInstanceUID, ds.SOPInstanceUID, "PACS", "modality MR: only CT images")
    receiver.hand_over_idle(0)
    received = ReceivedStudy.objects.get()
    assert received.status == Status.FAILED and received.n_refused == 1 and not sent
    assert received.reasons[-1]["reason"].startswith("no instance was accepted")
    assert not ImportJob.objects.exists()


def test_messages_of_old_attempts_and_repeated_messages_do_nothing(
    series_files, sent, django_capture_on_commit_callbacks
):
    receive(series_files)
    hand_over(django_capture_on_commit_callbacks)
    ((_, message),) = sent
    batch = message["received_id"]
    assert receiver.import_received(batch, message["attempt"] + 1) == Status.PENDING  # not this attempt
    assert not Series.objects.exists()
    assert receiver.import_received(batch, message["attempt"]) == Status.IMPORTED
    job = ImportJob.objects.get()
    assert receiver.import_received(batch, message["attempt"]) == Status.IMPORTED  # delivered twice
    assert ImportJob.objects.get().finished_at == job.finished_at and Series.objects.count() == 1


def test_a_message_redelivered_after_its_worker_died_imports_again(
    series_files, sent, django_capture_on_commit_callbacks
):
    receive(series_files)
    hand_over(django_capture_on_commit_callbacks)
    ((_, message),) = sent
    ReceivedStudy.objects.filter(pk=message["received_id"]).update(status=Status.IMPORTING)  # died here
    assert receiver.import_received(message["received_id"], message["attempt"]) == Status.IMPORTED
    assert Series.objects.get().n_slices == 8


def test_refusals_of_the_import_are_kept_on_the_batch(
    series_files, sent, tmp_path, django_capture_on_commit_callbacks
):
    damaged = pydicom.dcmread(series_files[0])
    del damaged.RescaleSlope
    path = tmp_path / "damaged.dcm"
    damaged.save_as(path, enforce_file_format=True)
    receive([path, *series_files[1:]])
    hand_over(django_capture_on_commit_callbacks)
    ((_, message),) = sent
    receiver.import_received(message["received_id"], message["attempt"])
    received = ReceivedStudy.objects.get()
    assert received.status == Status.IMPORTED and received.n_refused == 1
    assert "RescaleSlope" in received.reasons[0]["reason"]
    assert received.reasons[0]["instance"] == pseudonyms.uid(damaged.SOPInstanceUID)


def test_the_spool_left_by_a_stopped_listener_is_purged(
    series_files, sent, django_capture_on_commit_callbacks
):
    receive(series_files[:2])
    hand_over(django_capture_on_commit_callbacks)
    stale = ReceivedStudy.objects.get().spool_dir
    stale.mkdir(parents=True)  # as if the listener stopped before removing it
    live = ReceivedStudy.objects.get(pk=receive(series_files[2:3])).spool_dir
    assert receiver.purge_spool() == 1
    assert not stale.exists() and live.exists()


def test_leads_list_received_studies_others_may_not(client, series_files, sent, alice, bob):
    receive(series_files[:2])
    client.force_login(alice)
    listed = client.get("/api/v1/received-studies/")
    assert listed.status_code == 200
    (row,) = listed.json()["results"]
    assert row["status"] == "receiving" and row["n_instances"] == 2 and row["calling_ae"] == "PACS"
    client.force_login(bob)
    assert client.get("/api/v1/received-studies/").status_code == 403


def test_a_hand_over_whose_message_was_lost_is_sent_again_once_stale(
    series_files, sent, django_capture_on_commit_callbacks
):
    receive(series_files[:2])
    hand_over(django_capture_on_commit_callbacks)
    ((_, first),) = sent
    with django_capture_on_commit_callbacks(execute=True):
        assert receiver.resend_stale(3600) == []
        assert receiver.resend_stale(0) == [first["received_id"]]
    ((_, second),) = sent[1:]
    assert second["attempt"] == first["attempt"] + 1
    assert receiver.import_received(first["received_id"], first["attempt"]) == Status.PENDING  # outdated
    assert receiver.import_received(second["received_id"], second["attempt"]) == Status.IMPORTED
    assert receiver.resend_stale(0) == []
