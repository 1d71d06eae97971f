"""``ecg-tl-keras import {ecgfounder,ribeiro} --weights FILE --out PRESET``."""

from __future__ import annotations

import argparse

SOURCES = {
    "ecgfounder": "ECGFounder's PyTorch checkpoint (.pth; needs PyTorch: "
                  "pip install 'ecg-tl-keras[torch]')",
    "ribeiro": "Ribeiro et al.'s Keras 2 model (.hdf5)",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sources = parser.add_subparsers(dest="source", metavar="MODEL")
    sources.required = True
    for name, help_line in SOURCES.items():
        sub = sources.add_parser(name, help=help_line, description=f"convert {help_line} "
                                 "into a preset folder (config.json, model.weights.h5, "
                                 "metadata.json)")
        sub.add_argument("--weights", required=True, metavar="FILE",
                         help="the published weights file")
        sub.add_argument("--out", required=True, metavar="PRESET",
                         help="the preset folder to write")
        sub.add_argument("--overwrite", action="store_true",
                         help="replace an existing preset folder")
        if name == "ecgfounder":
            sub.add_argument("--labels", metavar="FILE", default=None,
                             help="the 150 label names, one a line, in output order (the "
                                  "authors' tasks.txt); default label_0 ... label_149")
        else:
            sub.add_argument("--input-scale", type=float, default=1.0, metavar="FACTOR",
                             help="multiply mV signals by FACTOR before the network: 1 (the "
                                  "authors' tracings are in mV, default) or 10 (1e-4 V units, "
                                  "as their README words it)")


def run(args: argparse.Namespace) -> int:
    from ecg_tl_keras.importers import import_ecgfounder, import_ribeiro

    if args.source == "ecgfounder":
        import_ecgfounder(args.weights, args.out, labels=args.labels, overwrite=args.overwrite)
    else:
        import_ribeiro(args.weights, args.out, input_scale=args.input_scale,
                       overwrite=args.overwrite)
    return 0
