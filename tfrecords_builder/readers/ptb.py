"""PTB Diagnostic ECG Database: ``patientNNN/*.hea`` WFDB records at 1000 Hz, 15 channels.

Labels come from the header's ``Reason for admission``: ``Myocardial infarction``
is MI and ``Healthy control`` is NORM. Records of other diagnoses have no study
label: the builder leaves them out unless ``--keep-other`` is given. The 12
standard leads are picked by name from the 15 channels; the patient is the folder.
"""

from __future__ import annotations

from tfrecords_builder.readers.base import RawSignal, Reader, RecordRef, SourceError
from tfrecords_builder.wfdb_io import HeaderError, read_header

PTB_LABELS = ("MI", "NORM")
REASONS = {"MI": ("myocardial infarction",), "NORM": ("healthy control",)}


class PtbReader(Reader):
    """Two labels, MI and NORM (healthy control), from ``Reason for admission``."""

    name = "ptb"
    label_names = PTB_LABELS
    label_codes = REASONS
    release_format = "ptb-wfdb"

    def records(self) -> list[RecordRef]:
        paths = sorted(self.source.glob("patient*/*.hea"))
        if not paths:
            raise SourceError(f"{self.source}: no patientNNN/*.hea records found; expected the PTB "
                              f"Diagnostic ECG Database folder")
        refs = []
        for path in paths:
            try:
                reason = (read_header(path).comment_value("Reason for admission") or "").lower()
            except HeaderError as error:
                self.skip(f"{path.parent.name}/{path.stem}", str(error))
                continue
            refs.append(RecordRef(record_id=f"{path.parent.name}/{path.stem}",
                                  patient_id=path.parent.name,
                                  labels=self.labels_from_codes([reason]),
                                  location=str(path.relative_to(self.source))))
        return refs

    def read_signal(self, ref: RecordRef, max_seconds: float) -> RawSignal:
        return self.read_file(self.source / ref.location, max_seconds)
