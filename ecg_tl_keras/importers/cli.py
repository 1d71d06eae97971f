"""``ecg-tl-keras import {ecgfounder,ribeiro} --weights FILE --out PRESET``."""

from __future__ import annotations

import argparse
import dataclasses

from tfrecords_builder.flags import add_flags, option

SOURCES = {
    "ecgfounder": "ECGFounder's PyTorch checkpoint (.pth; needs PyTorch: "
                  "pip install 'ecg-tl-keras[torch]')",
    "ribeiro": "Ribeiro et al.'s Keras 2 model (.hdf5)",
}


@dataclasses.dataclass(frozen=True)
class ImportOptions:
    """The flags of ``ecg-tl-keras import MODEL`` every source takes."""

    weights: str = option(help="the published weights file", metavar="FILE")
    out: str = option(help="the preset folder to write", metavar="PRESET")
    overwrite: bool = option(False, "replace an existing preset folder")


@dataclasses.dataclass(frozen=True)
class ECGFounderImportOptions(ImportOptions):
    """``ecg-tl-keras import ecgfounder``."""

    labels: str | None = option(
        None, "the 150 label names, one a line, in output order (the authors' tasks.txt); "
        "default label_0 ... label_149", metavar="FILE")


@dataclasses.dataclass(frozen=True)
class RibeiroImportOptions(ImportOptions):
    """``ecg-tl-keras import ribeiro``."""

    input_scale: float = option(
        1.0, "multiply mV signals by FACTOR before the network: 1 (the authors' tracings are "
        "in mV) or 10 (1e-4 V units, as their README words it)", metavar="FACTOR")


#: Each source's options (its flags are generated from them).
OPTIONS = {"ecgfounder": ECGFounderImportOptions, "ribeiro": RibeiroImportOptions}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sources = parser.add_subparsers(dest="source", metavar="MODEL")
    sources.required = True
    for name, help_line in SOURCES.items():
        sub = sources.add_parser(name, help=help_line, description=f"convert {help_line} "
                                 "into a preset folder (config.json, model.weights.h5, "
                                 "metadata.json)")
        add_flags(sub, OPTIONS[name])


def run(args: argparse.Namespace) -> int:
    from ecg_tl_keras.importers import import_ecgfounder, import_ribeiro

    if args.source == "ecgfounder":
        import_ecgfounder(args.weights, args.out, labels=args.labels, overwrite=args.overwrite)
    else:
        import_ribeiro(args.weights, args.out, input_scale=args.input_scale,
                       overwrite=args.overwrite)
    return 0
