"""Shared reading of the PhysioNet/CinC Challenge 2020/2021 WFDB releases.

Each record is ``NAME.hea`` + ``NAME.mat`` (MATLAB v4 ``val``, format 16 at a byte
offset) with SNOMED-CT codes on the ``# Dx:`` header line. Both the 2021 headers
and the early 2020 ones whose first line names the file (``E00001.mat 12 500 ...``)
are read (see :mod:`tfrecords_builder.wfdb_io`).

The SNOMED codes of each label follow the Challenge's scored-label mapping,
equivalent codes included (``dx_mapping_scored.csv`` and its equivalence
classes): e.g. PAC = 284470004 or 63593006 (supraventricular premature beats).
"""

from __future__ import annotations

from pathlib import Path

from tfrecords_builder.readers.base import RawSignal, Reader, RecordRef, SourceError
from tfrecords_builder.wfdb_io import HeaderError, read_header

#: Label -> SNOMED-CT codes (first is the Challenge's code, the rest its equivalents).
SNOMED = {
    "NORM": ("426783006",),                          # sinus rhythm
    "AF": ("164889003",),                            # atrial fibrillation
    "I-AVB": ("270492004",),                         # 1st degree AV block
    "LBBB": ("164909002", "733534002"),              # left bundle branch block, complete LBBB
    "RBBB": ("59118001", "713427006"),               # right bundle branch block, complete RBBB
    "PAC": ("284470004", "63593006"),                # premature atrial contraction, SVPB
    # PVC, ventricular premature beats, ventricular ectopics
    "PVC": ("427172004", "17338001", "164884008"),
    "STD": ("429622005",),                           # ST depression
    "STE": ("164931005",),                           # ST elevation
    "SB": ("426177001",),                            # sinus bradycardia
    "LAD": ("39732003",),                            # left axis deviation
    "STach": ("427084000",),                         # sinus tachycardia
    "TAb": ("164934002",),                           # T wave abnormal
    "TInv": ("59931005",),                           # T wave inversion
    "LQT": ("111975006",),                           # prolonged QT interval
}


def dx_codes(header_path: Path) -> tuple[str, ...]:
    """SNOMED codes on a CinC header's ``# Dx:`` line (empty when absent or blank)."""
    value = read_header(header_path).comment_value("Dx") or ""
    return tuple(code.strip() for code in value.split(",") if code.strip())


class CincReader(Reader):
    """A CinC WFDB release: records found recursively as ``*.hea``; a record is its own patient."""

    release_format = "cinc-wfdb"

    def header_paths(self) -> list[Path]:
        paths = sorted(self.source.rglob("*.hea"), key=lambda path: (path.stem, str(path)))
        if not paths:
            raise SourceError(f"{self.source}: no .hea headers found; expected the {self.name} "
                              f"CinC WFDB release (NAME.hea + NAME.mat)")
        return paths

    def labels_for(self, header_path: Path) -> tuple[str, ...] | None:
        """The study labels of one record (subclasses may add other sources); None: skipped."""
        return self.labels_from_codes(dx_codes(header_path))

    def records(self) -> list[RecordRef]:
        refs = []
        for path in self.header_paths():
            try:
                labels = self.labels_for(path)
            except HeaderError as error:
                self.skip(path.stem, str(error))
                continue
            if labels is None:
                continue
            refs.append(RecordRef(record_id=path.stem, patient_id=path.stem, labels=labels,
                                  location=str(path.relative_to(self.source))))
        return refs

    def read_signal(self, ref: RecordRef, max_seconds: float) -> RawSignal:
        return self.read_file(self.source / ref.location, max_seconds)
