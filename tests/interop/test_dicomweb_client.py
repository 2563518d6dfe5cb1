"""A third-party DICOMweb client (``dicomweb_client``) against ICHweb's live server: STOW, QIDO, WADO."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
from dicomweb_client import DICOMwebClient

from ichweb.imaging.models import Series
from ichweb.interop import tokens


@pytest.fixture(scope="session", autouse=True)
def _plain_http_live_server() -> Iterator[None]:
    """The live server speaks plain HTTP; its middleware reads these once, at its start (as in tests/e2e)."""
    from django.test import override_settings

    with override_settings(SECURE_SSL_REDIRECT=False, SECURE_HSTS_SECONDS=0):
        yield


@pytest.fixture
def client_of(live_server, transactional_db, sam) -> DICOMwebClient:
    """A ``DICOMwebClient`` of the live server, authenticated as the service account with a token."""
    secret = tokens.create_token(sam, name="dicomweb-client", days=1).secret
    return DICOMwebClient(f"{live_server.url}/dicomweb", headers={"Authorization": f"Bearer {secret}"})


@pytest.fixture
def stowed(client_of: DICOMwebClient, series_files: list[Path]) -> Series:
    """Case 1's 8 slices stored by the client's ``store_instances``; the stored (de-identified) series."""
    answer = client_of.store_instances([pydicom.dcmread(p) for p in series_files])
    assert len(answer.ReferencedSOPSequence) == 8 and "FailedSOPSequence" not in answer
    return Series.objects.get()


def test_search_finds_the_stowed_study_series_and_instances(client_of, stowed):
    study_uid = stowed.study.study_uid
    (study,) = client_of.search_for_studies(search_filters={"PatientID": stowed.study.patient_pseudo_id})
    assert study["0020000D"]["Value"] == [study_uid]
    (series,) = client_of.search_for_series(study_instance_uid=study_uid)
    assert series["0020000E"]["Value"] == [stowed.series_uid]
    instances = client_of.search_for_instances(study_uid, stowed.series_uid)
    expected = set(stowed.slices.values_list("sop_instance_uid", flat=True))
    assert {item["00080018"]["Value"][0] for item in instances} == expected


def test_retrieve_returns_the_de_identified_instance_metadata_and_frames(client_of, stowed, series_files):
    study_uid, series_uid = stowed.study.study_uid, stowed.series_uid
    item = stowed.slices.get(index=3)
    ds = client_of.retrieve_instance(study_uid, series_uid, item.sop_instance_uid)
    assert ds.SOPInstanceUID == item.sop_instance_uid and ds.PatientIdentityRemoved == "YES"
    assert str(ds.PatientName) not in {str(pydicom.dcmread(p).PatientName) for p in series_files}
    metadata = {
        m["00080018"]["Value"][0]: m for m in client_of.retrieve_series_metadata(study_uid, series_uid)
    }
    assert len(metadata) == 8 and "BulkDataURI" in metadata[item.sop_instance_uid]["7FE00010"]
    # The client's default Accept, multipart/related; type="*/*", gets the uncompressed frame.
    (frame,) = client_of.retrieve_instance_frames(study_uid, series_uid, item.sop_instance_uid, [1])
    assert frame == ds.PixelData
    pixels = np.frombuffer(frame, dtype="<i2").reshape(stowed.rows, stowed.columns)
    np.testing.assert_array_equal(pixels, ds.pixel_array)
