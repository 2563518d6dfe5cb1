"""A real Orthanc (Debian ``orthanc``, optionally ``orthanc-dicomweb``) in a folder of its own, local only.

Used by the interop tests (``tests/interop/test_orthanc.py``) and by ``bench/dicom_receive.py``, so that both
start the peer the same way. No pytest and no Django here: a benchmark imports it as a plain module.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

ORTHANC = "/usr/sbin/Orthanc"
DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"
AE_TITLE = "ORTHANC"


def free_port() -> int:
    """A TCP port free at the moment."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Orthanc:
    """A running Orthanc: its REST base URL and its DICOM port (AE title ``ORTHANC``)."""

    url: str
    dicom_port: int

    def get(self, path: str) -> object:
        """The JSON answer of ``GET path``."""
        answer = requests.get(f"{self.url}{path}", timeout=30)
        answer.raise_for_status()
        return answer.json()

    def post(self, path: str, data: bytes | str) -> object:
        """The JSON answer of ``POST path``."""
        answer = requests.post(f"{self.url}{path}", data=data, timeout=60)
        answer.raise_for_status()
        return answer.json()

    def up(self) -> bool:
        """Whether the REST API answers."""
        try:
            return requests.get(f"{self.url}/system", timeout=1).status_code == 200
        except requests.ConnectionError:
            return False

    def n_instances(self) -> int:
        """How many instances Orthanc holds (its ``/statistics``)."""
        return int(self.get("/statistics")["CountInstances"])  # type: ignore[index]


def orthanc_config(
    root: Path,
    http_port: int,
    dicom_port: int,
    *,
    name: str,
    modalities: dict[str, tuple[str, str, int]] | None = None,
    dicomweb: bool = False,
) -> dict[str, object]:
    """Orthanc's configuration: storage under ``root``, local only, no authentication, AE ``ORTHANC``, the
    DICOM peers it may send to (``name -> (AE title, host, port)``), the DICOMweb plugin when asked."""
    config: dict[str, object] = {
        "Name": name,
        "StorageDirectory": str(root / "storage"),
        "IndexDirectory": str(root / "index"),
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "DicomAet": AE_TITLE,
        "DicomModalities": {key: list(peer) for key, peer in (modalities or {}).items()},
    }
    if dicomweb:
        config |= {"Plugins": [DICOMWEB_PLUGIN], "DicomWeb": {"Enable": True, "Root": "/dicom-web/"}}
    return config


@contextmanager
def running_orthanc(
    root: Path,
    *,
    name: str = "ichweb-tests",
    modalities: dict[str, tuple[str, str, int]] | None = None,
    dicomweb: bool = False,
    timeout: float = 60.0,
) -> Iterator[Orthanc]:
    """Start Orthanc in ``root`` (created; its log is ``root/orthanc.log``), yield it once its REST API
    answers, stop it on exit. Raises ``RuntimeError`` with the log when it exits or does not come up."""
    root.mkdir(parents=True)
    http_port, dicom_port = free_port(), free_port()
    config = root / "orthanc.json"
    config.write_text(
        json.dumps(
            orthanc_config(root, http_port, dicom_port, name=name, modalities=modalities, dicomweb=dicomweb)
        )
    )
    log_path = root / "orthanc.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([ORTHANC, str(config)], stdout=log, stderr=subprocess.STDOUT)
    orthanc = Orthanc(f"http://127.0.0.1:{http_port}", dicom_port)
    try:
        deadline = time.monotonic() + timeout
        while not orthanc.up():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Orthanc did not start ({config}):\n{log_path.read_text()}")
            time.sleep(0.05)
        yield orthanc
    finally:
        process.terminate()
        process.wait(timeout=30)
