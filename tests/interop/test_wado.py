"""WADO-RS: unknown UIDs, what the Accept header may ask for, frames and windows that do not exist."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.uid import JPEG2000Lossless

from ichweb.interop import wado
from ichweb.interop.wado import Window
from tests.interop.conftest import content, read_dicom, split_multipart

pytestmark = pytest.mark.django_db


@pytest.fixture
def urls(client, stored, alice) -> dict[str, str]:
    client.force_login(alice)
    series = stored.series.get()
    item = series.slices.get(index=2)
    s = f"/dicomweb/studies/{stored.study_uid}"
    se = f"{s}/series/{series.series_uid}"
    return {"study": s, "series": se, "instance": f"{se}/instances/{item.sop_instance_uid}"}


@pytest.mark.parametrize(
    ("path", "named"),
    [
        ("/dicomweb/studies/1.2.3.4", "study 1.2.3.4"),
        ("{study}/series/1.2.3.4", "series 1.2.3.4"),
        ("{series}/instances/1.2.3.4", "instance 1.2.3.4"),
        ("{study}/series/1.2.3.4/metadata", "series 1.2.3.4"),
        ("{series}/instances/1.2.3.4/frames/1", "instance 1.2.3.4"),
        ("{series}/instances/1.2.3.4/rendered", "instance 1.2.3.4"),
    ],
)
def test_an_unknown_uid_is_404_naming_it(client, urls, path, named):
    response = client.get(path.format(**urls))
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json" and named in response.json()["detail"]


def test_a_malformed_uid_is_400(client, urls):
    response = client.get("/dicomweb/studies/not-a-uid/metadata")
    assert response.status_code == 400 and "study" in response.json()


def test_a_frame_beyond_the_instance_is_404_and_a_bad_frame_list_400(client, urls):
    assert client.get(f"{urls['instance']}/frames/2").status_code == 404
    assert "has 1 frame" in client.get(f"{urls['instance']}/frames/2").json()["detail"]
    assert client.get(f"{urls['instance']}/frames/one").status_code == 400


def test_the_accept_header_chooses_or_refuses(client, urls):
    refused = client.get(urls["study"], HTTP_ACCEPT="application/zip")
    assert refused.status_code == 406 and "application/dicom" in refused.json()["detail"]
    other_syntax = client.get(
        urls["instance"],
        HTTP_ACCEPT=f'multipart/related; type="application/dicom"; transfer-syntax={JPEG2000Lossless}',
    )
    assert other_syntax.status_code == 406
    as_stored = client.get(
        urls["instance"], HTTP_ACCEPT='multipart/related; type="application/dicom"; transfer-syntax=*'
    )
    assert as_stored.status_code == 200
    ((headers, _),) = split_multipart(as_stored["Content-Type"], content(as_stored))
    assert headers["Content-Type"] == "application/dicom; transfer-syntax=1.2.840.10008.1.2.1"
    assert headers["Content-Location"].endswith(urls["instance"])
    compressed_frames = client.get(
        f"{urls['instance']}/frames/1", HTTP_ACCEPT='multipart/related; type="image/jls"'
    )
    assert compressed_frames.status_code == 406
    assert client.get(f"{urls['instance']}/rendered", HTTP_ACCEPT="image/gif").status_code == 406
    assert client.get(f"{urls['study']}/metadata", HTTP_ACCEPT="application/dicom+xml").status_code == 406


def test_a_window_must_be_two_numbers_and_a_known_function(client, urls):
    for raw in ("40", "40,0", "a,b", "40,80,cubic", "40,80,linear,x"):
        response = client.get(f"{urls['instance']}/rendered", {"window": raw})
        assert response.status_code == 400 and "window" in response.json(), raw
    assert client.get(f"{urls['instance']}/rendered", {"window": "40,80,sigmoid"}).status_code == 200


def test_voi_lut_functions_follow_ps3_3_c_11_2_1_2():
    hu = np.array([-1000, 0, 39, 40, 41, 80, 1000])
    linear = wado.apply_window(hu, Window(40, 80))
    # y = ((x - (c - 0.5)) / (w - 1) + 0.5) * 255, clipped to 0..255: x = 39 -> (-0.5/79 + 0.5) * 255 =
    # 125.9, x = 40 -> 129.1, x = 41 -> (1.5/79 + 0.5) * 255 = 132.3, x = 80 -> 258.2 -> 255
    assert linear.tolist() == [0, 0, 126, 129, 132, 255, 255]
    exact = wado.apply_window(hu, Window(40, 80, "linear-exact"))
    assert exact.tolist()[3] == 128  # (x - c) / w + 0.5 = 0.5 -> 127.5, rounded to even
    sigmoid = wado.apply_window(hu, Window(40, 80, "sigmoid"))
    assert sigmoid.tolist()[3] == 128 and sigmoid.tolist()[0] == 0 and sigmoid.tolist()[-1] == 255


def test_a_file_stored_compressed_goes_out_uncompressed_by_default(client, urls, stored):
    item = stored.series.get().slices.get(index=2)
    path = item.series.path / "dicom" / f"{item.index:04d}.dcm"
    ds = pydicom.dcmread(path)
    original = ds.pixel_array.copy()
    ds.compress(JPEG2000Lossless, generate_instance_uid=False)
    ds.save_as(path, enforce_file_format=True)
    default = client.get(urls["instance"])
    ((headers, data),) = split_multipart(default["Content-Type"], content(default))
    sent = read_dicom(data)
    assert sent.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    assert sent.SOPInstanceUID == item.sop_instance_uid
    np.testing.assert_array_equal(sent.pixel_array, original)
    stored_as_is = client.get(
        urls["instance"], HTTP_ACCEPT='multipart/related; type="application/dicom"; transfer-syntax=*'
    )
    ((headers, _),) = split_multipart(stored_as_is["Content-Type"], content(stored_as_is))
    assert headers["Content-Type"].endswith(str(JPEG2000Lossless))
    frames = client.get(f"{urls['instance']}/frames/1")
    ((_, frame),) = split_multipart(frames["Content-Type"], content(frames))
    np.testing.assert_array_equal(np.frombuffer(frame, "<i2").reshape(original.shape), original)
    meta = client.get(f"{urls['instance']}/metadata").json()[0]
    assert meta["7FE00010"]["vr"] == "OB"  # encapsulated pixel data


def test_frames_come_from_the_first_acceptable_of_several_ranges(client, urls):
    accept = (
        'multipart/related; type="image/jls"; transfer-syntax=1.2.840.10008.1.2.4.80, '
        "multipart/related; type=application/octet-stream; transfer-syntax=*"
    )
    response = client.get(f"{urls['instance']}/frames/1", HTTP_ACCEPT=accept)
    assert response.status_code == 200
    assert response["Content-Type"].startswith('multipart/related; type="application/octet-stream"')
    jpeg_only = 'multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.4.50'
    assert client.get(f"{urls['instance']}/frames/1", HTTP_ACCEPT=jpeg_only).status_code == 406


def test_frames_for_a_client_that_takes_any_part_type(client, urls):
    for accept in ('multipart/related; type="*/*"', 'multipart/related; type="application/*"'):
        response = client.get(f"{urls['instance']}/frames/1", HTTP_ACCEPT=accept)
        assert response.status_code == 200, accept
        assert response["Content-Type"].startswith('multipart/related; type="application/octet-stream"')
