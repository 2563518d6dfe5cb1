"""The C-STORE listener against real peers: dcmtk's echoscu/storescu and a pynetdicom SCU.

The listener runs in this process on a port the system picks; imports run in-process (eager) unless a test
says otherwise, and one slow test runs the listener command and a real Celery worker as processes.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pydicom
import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError
from pydicom.uid import CTImageStorage, MRImageStorage, generate_uid
from pynetdicom import AE

from ichweb import dispatch
from ichweb.celery import app
from ichweb.imaging.models import ImportJob, Series, Study
from ichweb.interop import receiver
from ichweb.interop.listener import Listener, ListenerConfig
from ichweb.interop.models import ReceivedStudy
from tests.conftest import ROOT, database_url, require_tool, start_worker
from tests.imaging.conftest import pydicom_file
from tests.interop.orthanc import free_port


@pytest.fixture
def dcmtk_tools() -> None:
    """dcmtk's echoscu and storescu, the real peers of these tests (``.ci/run`` installs them)."""
    require_tool("storescu", "dcmtk")
    require_tool("echoscu", "dcmtk")


needs_dcmtk = pytest.mark.usefixtures("dcmtk_tools")

CALLING = "TESTSCU"
Status = ReceivedStudy.Status


def wait_for(condition: Callable[[], object], what: str, timeout: float = 60.0) -> None:
    """Poll ``condition`` until it holds (a wait, not a timed assertion: the deadline only ends a hang)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def listen(transactional_db, settings, tmp_path, monkeypatch) -> Iterator[Callable[..., Listener]]:
    """Start a listener: ``listen(idle_s=...)``; imports run in-process unless ``eager=False``."""
    settings.ICHWEB_DICOM_SPOOL_DIR = tmp_path / "spool"
    started: list[Listener] = []

    def start(idle_s: float = 3600, allowed: tuple[str, ...] = (CALLING,), eager: bool = True) -> Listener:
        if eager:
            monkeypatch.setitem(app.conf, "task_always_eager", True)
        listener = Listener(ListenerConfig("ICHWEB", "127.0.0.1", 0, allowed, idle_s))
        listener.start()
        started.append(listener)
        return listener

    yield start
    for listener in started:
        listener.stop()


def dcmtk(
    tool: str, listener: Listener, *args: str, calling: str = CALLING
) -> subprocess.CompletedProcess[str]:
    cmd = [tool, "-aet", calling, "-aec", "ICHWEB", "127.0.0.1", str(listener.port), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


def scu(listener: Listener, calling: str = CALLING) -> object:
    ae = AE(ae_title=calling)
    ae.add_requested_context(CTImageStorage)
    ae.add_requested_context(MRImageStorage)
    assoc = ae.associate("127.0.0.1", listener.port, ae_title="ICHWEB")
    assert assoc.is_established
    return assoc


@needs_dcmtk
def test_echoscu_succeeds(listen):
    listener = listen()
    result = dcmtk("echoscu", listener)
    assert result.returncode == 0, result.stderr


@needs_dcmtk
def test_a_calling_ae_not_allowed_is_rejected_at_association(listen, series_files):
    listener = listen()
    echo = dcmtk("echoscu", listener, calling="INTRUDER")
    assert echo.returncode != 0 and "Association Rejected" in echo.stderr + echo.stdout
    ae = AE(ae_title="INTRUDER")
    ae.add_requested_context(CTImageStorage)
    assoc = ae.associate("127.0.0.1", listener.port, ae_title="ICHWEB")
    assert assoc.is_rejected
    wrong_called = AE(ae_title=CALLING)
    wrong_called.add_requested_context(CTImageStorage)
    assert wrong_called.associate("127.0.0.1", listener.port, ae_title="SOMEONE").is_rejected
    assert not ReceivedStudy.objects.exists()


@needs_dcmtk
def test_storescu_of_a_series_is_imported_once_the_study_is_idle(listen, series_files):
    listener = listen(idle_s=0.5)
    result = dcmtk("storescu", listener, *map(str, series_files))
    assert result.returncode == 0, result.stderr
    wait_for(lambda: ReceivedStudy.objects.filter(status=Status.IMPORTED).exists(), "the import")
    received = ReceivedStudy.objects.get()
    study = Study.objects.get()
    assert received.study_uid == study.study_uid  # the row carries the de-identified UID
    assert received.n_instances == 8 and received.n_refused == 0 and received.calling_ae == CALLING
    assert study.series.get().n_slices == 8
    assert received.import_job is not None and received.import_job.status == ImportJob.Status.DONE
    assert not any(Path(django_settings.ICHWEB_DICOM_SPOOL_DIR).iterdir())  # the spool is emptied


def test_non_ct_and_scout_instances_fail_and_the_rest_is_imported(listen, series_files):
    listener = listen()
    scout = pydicom.dcmread(series_files[0])
    scout.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
    scout.SOPInstanceUID = scout.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    mr = pydicom.dcmread(pydicom_file("MR_small.dcm"))
    mr.StudyInstanceUID = scout.StudyInstanceUID
    assoc = scu(listener)
    statuses = [assoc.send_c_store(pydicom.dcmread(p)).Status for p in series_files]
    refused_scout, refused_mr = assoc.send_c_store(scout), assoc.send_c_store(mr)
    assoc.release()
    assert statuses == [0x0000] * 8
    assert refused_scout.Status == 0xA900 and "localizer" in refused_scout.ErrorComment
    assert refused_mr.Status == 0xA900 and "MR Image Storage" in refused_mr.ErrorComment
    assert receiver.hand_over_idle(0)
    received = ReceivedStudy.objects.get()
    assert received.status == Status.IMPORTED and received.n_instances == 8 and received.n_refused == 2
    assert {r["reason"].split(":")[0] for r in received.reasons} == {
        "scout/localizer image",
        "SOP class MR Image Storage is not CT Image Storage",
    }
    assert Series.objects.get().n_slices == 8


def test_an_aborted_association_keeps_what_arrived_and_imports_it_whole_once_idle(listen, series_files):
    listener = listen()
    assoc = scu(listener)
    for path in series_files[:4]:
        assert assoc.send_c_store(pydicom.dcmread(path)).Status == 0x0000
    assoc.abort()
    wait_for(lambda: ReceivedStudy.objects.filter(aborted=True).exists(), "the abort to be noted")
    received = ReceivedStudy.objects.get()
    assert received.status == Status.RECEIVING and not Study.objects.exists()  # kept, not imported yet
    assert "aborted after 4 instance(s)" in received.reasons[0]["reason"]
    assert receiver.hand_over_idle(0) == [received.pk]
    received.refresh_from_db()
    assert received.status == Status.IMPORTED and Series.objects.get().n_slices == 4
    # the rest arrives later, on a new association: a new batch completes the imported series
    assoc = scu(listener)
    for path in series_files[4:]:
        assert assoc.send_c_store(pydicom.dcmread(path)).Status == 0x0000
    assoc.release()
    receiver.hand_over_idle(0)
    assert ReceivedStudy.objects.filter(status=Status.IMPORTED).count() == 2
    assert Series.objects.get().n_slices == 8


def test_studies_received_at_once_become_separate_import_tasks(listen, phantom_cases, monkeypatch):
    listener = listen(eager=False)
    sent: list[tuple[str, dict, str]] = []
    monkeypatch.setattr(app, "send_task", lambda name, kwargs, queue: sent.append((name, kwargs, queue)))
    cases = [sorted((phantom_cases / c / "series").glob("*.dcm")) for c in ("case0001", "case0002")]
    errors: list[BaseException] = []

    def push(files: list[Path]) -> None:
        try:
            assoc = scu(listener)
            for path in files:
                assert assoc.send_c_store(pydicom.dcmread(path)).Status == 0x0000
            assoc.release()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=push, args=(files,)) for files in cases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert ReceivedStudy.objects.filter(status=Status.RECEIVING, n_instances=8).count() == 2
    handed = receiver.hand_over_idle(0)
    assert len(handed) == 2 and not Study.objects.exists()  # the listener does not import
    assert sorted(kwargs["received_id"] for _, kwargs, _ in sent) == sorted(handed)
    assert {(name, queue) for name, _, queue in sent} == {
        (dispatch.TASK_IMPORT_RECEIVED, django_settings.ICHWEB_DEFAULT_QUEUE)
    }
    for _, kwargs, _ in sent:  # what the workers do, one task per study
        assert receiver.import_received(kwargs["received_id"], kwargs["attempt"]) == Status.IMPORTED
    assert Study.objects.count() == 2


def test_the_listener_needs_allowed_calling_aes_and_a_valid_title(settings):
    settings.ICHWEB_DICOM_ALLOWED_AES = []
    with pytest.raises(ImproperlyConfigured, match="ICHWEB_DICOM_ALLOWED_AES"):
        ListenerConfig.from_settings()
    with pytest.raises(CommandError, match="ICHWEB_DICOM_ALLOWED_AES"):
        call_command("dicom_listener")
    settings.ICHWEB_DICOM_ALLOWED_AES = ["PACS"]
    settings.ICHWEB_DICOM_AE_TITLE = "A-TITLE-FAR-TOO-LONG"
    with pytest.raises(ImproperlyConfigured, match="ICHWEB_DICOM_AE_TITLE"):
        ListenerConfig.from_settings()


@needs_dcmtk
@pytest.mark.slow
def test_the_listener_command_hands_a_study_to_a_real_worker(transactional_db, series_files, tmp_path):
    port = free_port()
    for worker in start_worker():
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": django_settings.CELERY_BROKER_URL,
            "ICHWEB_VAR_DIR": str(django_settings.VAR_DIR),
            "MEDIA_ROOT": str(django_settings.MEDIA_ROOT),
            "SECRET_KEY": django_settings.SECRET_KEY,
            "ICHWEB_DEFAULT_QUEUE": worker.queue,
            "ICHWEB_DICOM_PORT": str(port),
            "ICHWEB_DICOM_ALLOWED_AES": CALLING,
            "ICHWEB_DICOM_IDLE_S": "1",
            "ICHWEB_DICOM_SPOOL_DIR": str(tmp_path / "spool"),
        }
        command = [sys.executable, "manage.py", "dicom_listener"]
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        try:
            wait_for(lambda p=process: _accepts(port) or p.poll() is not None, "the listener to listen")
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            cmd = [
                "storescu",
                "-aet",
                CALLING,
                "-aec",
                "ICHWEB",
                "127.0.0.1",
                str(port),
                *map(str, series_files),
            ]
            assert subprocess.run(cmd, capture_output=True, timeout=60, check=False).returncode == 0
            wait_for(lambda: ReceivedStudy.objects.filter(status=Status.IMPORTED).exists(), "the worker", 120)
        finally:
            process.terminate()
            process.wait(timeout=30)
        study = Study.objects.get()
        assert study.series.get().n_slices == 8
        assert ReceivedStudy.objects.get().import_job.studies.get() == study


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def test_runapp_starts_the_listener_only_when_asked_and_configured(settings):
    from io import StringIO

    from ichweb.accounts.management.commands.runapp import Command

    command = Command(stdout=StringIO(), stderr=StringIO())
    settings.ICHWEB_DICOM_LISTENER, settings.ICHWEB_DICOM_ALLOWED_AES = False, ["PACS"]
    assert command.dicom_listener(sys.executable) == []
    settings.ICHWEB_DICOM_LISTENER, settings.ICHWEB_DICOM_ALLOWED_AES = True, []
    assert command.dicom_listener(sys.executable) == []
    assert "ICHWEB_DICOM_ALLOWED_AES is empty" in command.stderr.getvalue()
    settings.ICHWEB_DICOM_ALLOWED_AES = ["PACS"]
    (child,) = command.dicom_listener(sys.executable)
    assert child.name == "dicom listener" and child.restart
