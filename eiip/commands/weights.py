"""`eiip import-weights`: a release's pretrained weights as an eiip rgb-baseline checkpoint.

The parser needs no torch; the run function imports what it uses.
"""

from __future__ import annotations

import argparse

from eiip.choices import RELEASES


def _run_import(args: argparse.Namespace) -> int:
    from eiip.external.releases import import_release

    parts = import_release(args.release, args.source, args.out, args.overrides)
    print(f"wrote {args.out} ({args.release}, rgb bottleneck; imported: {', '.join(parts)})")
    return 0


def add_parsers(commands: argparse._SubParsersAction) -> None:
    """Register `import-weights`."""
    parser = commands.add_parser(
        "import-weights", help="convert a release's pretrained weights into an eiip checkpoint",
        description="Reads the official release's weights (tensors only, weights_only), checks every key and shape, "
                    "and writes an rgb-bottleneck ExternalInpainter checkpoint with its conf/train.yaml config "
                    "(backbone=<release's backbone> bottleneck=rgb + OVERRIDES). Parts the release lacks (e.g. "
                    "discriminators) are freshly initialized. Use it with eiip inpaint --ckpt, eval.py ckpt=, "
                    "train.py ckpt= or train.py bottleneck=mono init_from=.")
    parser.add_argument("--release", required=True, choices=RELEASES,
                        help="edgeconnect: folder with EdgeModel_gen.pth + InpaintingModel_gen.pth (+ *_dis.pth); "
                             "gmcnn: the PyTorch <epoch>_net_GM.pth; deepfill-v2: the TF checkpoint directory "
                             "(needs TensorFlow) or an .npz of its variables (README)")
    parser.add_argument("--from", dest="source", required=True, metavar="PATH", help="the release's folder or file")
    parser.add_argument("--out", required=True, metavar="CKPT", help="the checkpoint to write")
    parser.add_argument("overrides", nargs="*", metavar="OVERRIDE",
                        help="conf/train.yaml overrides stored in the checkpoint's config, e.g. data=places2")
    parser.set_defaults(run=_run_import)
