"""Write a phantom case as DICOM CT Image Storage files (explicit VR little endian).

Stored values are int16 with ``HU = stored * 1 - 1024`` (RescaleSlope 1, RescaleIntercept -1024), so air
(-1000 HU) is stored as 24. Slice 1 (``IM0001.dcm``) is the lowest; z grows 5 mm per slice toward the vertex.
Patient identity is invented but realistic enough for de-identification to have something to remove.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, CTImageStorage, ExplicitVRLittleEndian
from pydicom.valuerep import format_number_as_ds

from ml.phantom.case import PhantomCase
from ml.phantom.config import GENERATOR_VERSION

RESCALE_INTERCEPT = -1024
MANUFACTURER = "ICHweb phantom"


def _ds(value: float) -> str:
    return format_number_as_ds(float(value))


def _study_and_patient(case: PhantomCase) -> Dataset:
    """Elements shared by every image of the case's study."""
    p = case.patient
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName = p.name
    ds.PatientID = p.patient_id
    ds.PatientBirthDate = p.birth_date
    ds.PatientSex = p.sex
    ds.PatientAge = p.age
    ds.StudyInstanceUID = case.uids.study
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = p.study_date
    ds.StudyTime = ds.SeriesTime = ds.AcquisitionTime = ds.ContentTime = p.study_time
    ds.StudyID = "1"
    ds.AccessionNumber = p.accession_number
    ds.StudyDescription = "CT HEAD WITHOUT CONTRAST"
    ds.ReferringPhysicianName = p.referring_physician
    ds.InstitutionName = p.institution
    ds.StationName = "PHANTOMCT01"
    ds.Manufacturer = MANUFACTURER
    ds.ManufacturerModelName = "ml.phantom"
    ds.SoftwareVersions = GENERATOR_VERSION
    ds.Modality = "CT"
    ds.BodyPartExamined = "HEAD"
    ds.PatientPosition = "HFS"
    ds.FrameOfReferenceUID = case.uids.frame_of_reference
    ds.PositionReferenceIndicator = ""
    return ds


def slice_dataset(case: PhantomCase, k: int, *, denoised: bool = False) -> Dataset:
    """The DICOM dataset of slice ``k`` of the standard (or denoised) series."""
    volume = case.denoised if denoised else case.hu
    if volume is None:
        raise ValueError(f"{case.case_id} has no denoised series")
    sop_uid = case.uids.denoised_sop[k] if denoised else case.uids.sop[k]
    n_rows, n_cols = volume.shape[1:]
    dz, dy, dx = case.spacing

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID

    ds = _study_and_patient(case)
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop_uid
    if denoised:
        ds.ImageType = ["DERIVED", "SECONDARY", "AXIAL"]
        ds.DerivationDescription = "3x3 median filter of the standard series"
        ds.SeriesInstanceUID, ds.SeriesNumber, ds.SeriesDescription = case.uids.denoised_series, 2, "denoised"
    else:
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.SeriesInstanceUID, ds.SeriesNumber, ds.SeriesDescription = case.uids.series, 1, "Head 5mm"
    ds.AcquisitionNumber = 1
    ds.InstanceNumber = k + 1
    ds.KVP = 120
    ds.XRayTubeCurrent = 300
    ds.ConvolutionKernel = "H30s"
    ds.SliceThickness = _ds(dz)
    ds.SpacingBetweenSlices = _ds(dz)
    z = case.z_positions[k]
    ds.ImagePositionPatient = [_ds(-(n_cols - 1) / 2 * dx), _ds(-(n_rows - 1) / 2 * dy), _ds(z)]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.SliceLocation = _ds(z)
    ds.PixelSpacing = [_ds(dy), _ds(dx)]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = n_rows, n_cols
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.WindowCenter, ds.WindowWidth = 40, 80
    ds.RescaleIntercept = RESCALE_INTERCEPT
    ds.RescaleSlope = 1
    ds.RescaleType = "HU"
    ds.PixelData = stored_values(volume[k]).tobytes()
    return ds


def stored_values(hu: NDArray[np.int16]) -> NDArray[np.int16]:
    """HU to stored little-endian int16 values (``HU - RescaleIntercept``)."""
    return (hu.astype(np.int32) - RESCALE_INTERCEPT).clip(-32768, 32767).astype("<i2")


def write_series(case: PhantomCase, directory: Path, *, denoised: bool = False) -> list[Path]:
    """Write one series as ``IM0001.dcm`` ... into ``directory``; returns the paths, slice order."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(case.n_slices):
        path = directory / f"IM{k + 1:04d}.dcm"
        slice_dataset(case, k, denoised=denoised).save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths
