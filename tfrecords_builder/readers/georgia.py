"""Georgia 12-lead ECG Challenge database (PhysioNet/CinC 2020/2021 WFDB release)."""

from __future__ import annotations

from tfrecords_builder.readers.cinc import SNOMED, CincReader

GEORGIA_LABELS = ("NORM", "AF", "I-AVB", "PAC", "SB", "LAD", "STach", "TAb", "TInv", "LQT")


class GeorgiaReader(CincReader):
    """10 labels from the SNOMED-CT codes on ``# Dx:`` (see ``cinc.SNOMED``); no patient ids."""

    name = "georgia"
    label_names = GEORGIA_LABELS
    label_codes = {label: SNOMED[label] for label in GEORGIA_LABELS}
