"""The attention segmentations of an inference job as one DICOM Segmentation (BINARY), one segment per label.

Each stored attention map (``AttentionMap``, an 8-bit PNG at the slice's size) is thresholded exactly as the
localisation check does it (``ml.cam.segment``: above 20 % of the map's maximum); each frame references the
stored instance of its slice. Why SEG and not a Parametric Map: docs/interop.md, "Export".
"""

from __future__ import annotations

from typing import Any

import highdicom as hd
import numpy as np
import pydicom
from highdicom import seg
from PIL import Image

from ichweb.interop import codes, sources
from ichweb.interop.sr import model_digest
from ichweb.modeling.models import AttentionMap, InferenceJob, Stage
from ml.labels import LABELS

SEG_SERIES_NUMBER = 9903


def map_mask(amap: AttentionMap, shape: tuple[int, int]) -> np.ndarray:
    """The 20 % segmentation of one stored map, as ``ml.cam.segment`` makes it from the map array."""
    from ml.cam import segment  # torch comes with ml.cam: load it only when a SEG is made

    if not amap.path.is_file():
        raise sources.NotExportable(
            f"the attention map file of slice {amap.index}, label {amap.label} (job {amap.job_id}) is "
            "missing: run the inference again"
        )
    with Image.open(amap.path) as image:
        array = np.asarray(image.convert("L"), dtype=np.float32)
    if array.shape != shape:
        raise sources.NotExportable(
            f"the attention map of slice {amap.index}, label {amap.label} is "
            f"{array.shape[1]}x{array.shape[0]} but the slice is {shape[1]}x{shape[0]}: "
            "run the inference again"
        )
    return segment(array)


def _description(number: int, label: str, algorithm: hd.AlgorithmIdentificationSequence) -> Any:
    code = codes.LABEL_CODES[label]
    return seg.SegmentDescription(
        segment_number=number,
        segment_label=f"attention {label}",
        segmented_property_category=codes.ABNORMAL_STRUCTURE,
        segmented_property_type=code,
        algorithm_type=seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=algorithm,
    )


def attention_seg(job: InferenceJob) -> pydicom.Dataset:
    """The job's attention segmentations: frames of the explained slices, one segment per mapped label."""
    maps = list(job.attention_maps.select_related("slice").order_by("index", "label"))
    if job.status != Stage.SUCCEEDED or not maps:
        raise sources.NotExportable(
            f"inference job {job.pk} has no attention maps (status {job.status}): wait until it succeeds"
        )
    labels = [label for label in LABELS if any(m.label == label for m in maps)]
    datasets = sources.headers_of(job.series)
    uids = list(dict.fromkeys(m.slice.sop_instance_uid for m in maps))
    index_of = {u: i for i, u in enumerate(uids)}
    rows, columns = int(datasets[uids[0]].Rows), int(datasets[uids[0]].Columns)
    masks = np.zeros((len(uids), rows, columns, len(labels)), dtype=bool)
    for amap in maps:
        masks[index_of[amap.slice.sop_instance_uid], :, :, labels.index(amap.label)] = map_mask(
            amap, (rows, columns)
        )
    version = job.model_version
    algorithm = hd.AlgorithmIdentificationSequence(
        name=version.name[:64],
        family=codes.ARTIFICIAL_INTELLIGENCE,
        version=model_digest(version)[:64],
        parameters={"segmentation": "Grad-CAM above 20 % of the maximum"},
    )
    return seg.Segmentation(
        source_images=[datasets[u] for u in uids],
        pixel_array=masks,
        segmentation_type=seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[_description(i + 1, label, algorithm) for i, label in enumerate(labels)],
        series_instance_uid=sources.uid("seg", job.series.series_uid, job.pk),
        series_number=SEG_SERIES_NUMBER,
        sop_instance_uid=sources.uid("seg", job.series.series_uid, job.pk, job.finished_at or job.created_at),
        instance_number=1,
        manufacturer="ICHweb",
        manufacturer_model_name=version.name[:64],
        software_versions="ichweb",
        device_serial_number=str(version.pk),
        series_description="ICHweb attention segmentation",
        omit_empty_frames=False,
    )
