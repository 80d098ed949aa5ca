"""``python -m zapsim.trace MODEL``: train ZAPs for a pretrained CNN, evaluate operating points, write a trace.

Example: ``python -m zapsim.trace resnet20`` (needs ``ZAPSIM_DATA``) writes
``traces/resnet20-checkerboard/`` and prints a table of operating points.
See ``docs/tracer.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from ..atomic import check_target
from ..errors import ZapsimError, cli_main
from ..patterns import parse_pattern_arg
from . import DEFAULT_BUDGETS, DEFAULT_THRESHOLDS, trace_model
from .data import ImageSet, load_cifar10_eval, load_cifar10_train_split, load_image_folder
from .models.cifar_resnet import CIFAR_DEPTHS, load_cifar_resnet
from .models.torchvision_models import TORCHVISION_MODELS, load_torchvision_model
from .operating_points import parse_float_list
from .placement import MAX_ZAP_MAC_SHARE

MODELS = (*CIFAR_DEPTHS, *TORCHVISION_MODELS)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m zapsim.trace",
        description="Attach and train ZAPs on a pretrained CNN, evaluate operating points on real images "
        "(all ZAPs on at once) and write a zapsim trace.",
    )
    p.add_argument("model", help=f"model name: {', '.join(MODELS)}")
    p.add_argument("--weights", help="checkpoint file (default: the published file under ZAPSIM_DATA/weights)")
    p.add_argument("--data", help="data directory (default: $ZAPSIM_DATA, then ../shared/data, then ~/.cache/zapsim)")
    p.add_argument("--image-folder", help="ImageNet-style folder of JPEGs with labels.csv to evaluate on "
                   "(torchvision models); without --train-folder its second half trains the ZAPs")
    p.add_argument("--train-folder", help="ImageNet-style folder for ZAP training (disjoint from --image-folder)")
    p.add_argument("--images", type=int, help="evaluate on the first N evaluation images (default: all; CIFAR-10: 1017)")
    p.add_argument("--train-images", type=int, help="train ZAPs on the first N training images (default: all)")
    p.add_argument("--trace-images", default="100",
                   help="write masks for the first N evaluation images, or 'all' (accuracy always uses every "
                   "evaluation image; default 100)")
    p.add_argument("--epochs", type=int, default=5, help="ZAP training epochs (default 5)")
    p.add_argument("--batch-size", type=int, default=128, help="ZAP training batch size (default 128)")
    p.add_argument("--pattern", default="checkerboard",
                   help="computed-first pattern(s), comma-separated: checkerboard, p60, p40, p33, or 0/1 rows "
                   "like 10/01 (one trace per pattern; default checkerboard)")
    p.add_argument("--thresholds", default=",".join(f"{t:g}" for t in DEFAULT_THRESHOLDS),
                   help="uniform thresholds, comma-separated (default %(default)s; '' for none)")
    p.add_argument("--budgets", default=",".join(f"{b:g}" for b in DEFAULT_BUDGETS),
                   help="error budgets sum(Err_l) for per-layer thresholds (default %(default)s; '' for none)")
    p.add_argument("--calib-images", type=int, default=2000,
                   help="training images used to fit the per-layer curves (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="seed for ZAP init, shuffling and augmentation (default 0)")
    p.add_argument("--out", help="trace directory (default traces/MODEL-PATTERN; with several patterns "
                   "'{pattern}' in the path is replaced, else '-PATTERN' is appended)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--zap-dir", help="directory to save/reuse trained ZAPs (default ~/.cache/zapsim/zaps; "
                   "zapsim/trace/pretrained_zaps is also searched)")
    p.add_argument("--retrain", action="store_true", help="train ZAPs even if matching trained ones exist")
    p.add_argument("--overwrite", action="store_true", help="replace an existing trace directory")
    p.add_argument("--allow-overlap", action="store_true",
                   help="trace even if evaluation and training images overlap (recorded in the manifest)")
    p.add_argument("--max-zap-mac-share", type=float, default=MAX_ZAP_MAC_SHARE,
                   help="place no ZAP costing more than this share of its layer's MACs (default %(default)s; "
                   "'inf' places every qualifying ZAP, e.g. on depthwise convs)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--quiet", action="store_true", help="no progress bars or log lines")
    return p


def _out_paths(args, patterns: list[str]) -> list[Path]:
    slugs = [p.replace("custom:", "custom-").replace("/", "_") for p in patterns]
    if args.out is None:
        return [Path("traces") / f"{args.model}-{s}" for s in slugs]
    if len(patterns) == 1:
        return [Path(args.out.replace("{pattern}", slugs[0]))]
    if "{pattern}" in args.out:
        return [Path(args.out.replace("{pattern}", s)) for s in slugs]
    return [Path(f"{args.out}-{s}") for s in slugs]


def _positive(v: int | None, what: str) -> None:
    if v is not None and v < 1:
        raise ZapsimError(f"{what} must be >= 1, got {v}")


def _load(args) -> tuple[torch.nn.Module, dict, ImageSet, ImageSet]:
    if args.model in CIFAR_DEPTHS:
        if args.image_folder:
            raise ZapsimError(f"--image-folder is for ImageNet models; {args.model} is evaluated on CIFAR-10")
        model, info = load_cifar_resnet(args.model, args.weights, args.data)
        return model, info, load_cifar10_eval(args.data), load_cifar10_train_split(args.data)
    if args.model in TORCHVISION_MODELS:
        if not args.image_folder:
            raise ZapsimError(f"{args.model} needs --image-folder DIR (ImageNet-style JPEGs with labels.csv)")
        model, info = load_torchvision_model(args.model, args.weights)
        images = load_image_folder(args.image_folder)
        if args.train_folder:
            return model, info, images, load_image_folder(args.train_folder)
        if len(images) < 2:
            raise ZapsimError(f"{args.image_folder}: need at least 2 images to split into evaluation and training")
        half = len(images) // 2
        ev = ImageSet(images.images[:half], images.labels[:half], {**images.info, "indices": [0, half - 1]})
        tr = ImageSet(images.images[half:], images.labels[half:], {**images.info, "indices": [half, len(images) - 1]})
        return model, info, ev, tr
    raise ZapsimError(f"unknown model '{args.model}'; known: {', '.join(MODELS)}")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    t0 = time.perf_counter()
    # validate everything cheap before loading data or training
    thresholds = parse_float_list(args.thresholds, "--thresholds") if args.thresholds.strip() else []
    budgets = parse_float_list(args.budgets, "--budgets") if args.budgets.strip() else []
    if any(b <= 0 for b in budgets):
        raise ZapsimError(f"--budgets {args.budgets!r}: budgets must be > 0")
    patterns = [parse_pattern_arg(p.strip())[0] for p in args.pattern.split(",")]
    if len(set(patterns)) != len(patterns):
        raise ZapsimError(f"--pattern {args.pattern!r}: patterns repeat")
    for v, what in ((args.images, "--images"), (args.train_images, "--train-images"), (args.epochs, "--epochs"),
                    (args.batch_size, "--batch-size"), (args.calib_images, "--calib-images"), (args.threads, "--threads")):
        _positive(v, what)
    if not args.max_zap_mac_share > 0:  # also refuses nan
        raise ZapsimError(f"--max-zap-mac-share {args.max_zap_mac_share}: must be > 0 ('inf' for no limit)")
    trace_images: int | None
    if args.trace_images == "all":
        trace_images = None
    else:
        try:
            trace_images = int(args.trace_images)
        except ValueError:
            raise ZapsimError(f"--trace-images {args.trace_images!r}: expected a positive integer or 'all'") from None
        _positive(trace_images, "--trace-images")
    if args.model not in MODELS:
        raise ZapsimError(f"unknown model '{args.model}'; known: {', '.join(MODELS)}")
    if args.device != "cpu":
        try:
            torch.empty(1, device=args.device)
        except Exception as exc:
            raise ZapsimError(f"--device {args.device!r} is not usable here ({type(exc).__name__}: {exc})") from None
    outs = _out_paths(args, patterns)
    for o in outs:
        check_target(o, args.overwrite, "trace directory")
    if args.threads:
        torch.set_num_threads(args.threads)

    model, info, ev, tr = _load(args)
    ev = ev.subset(args.images)
    tr = tr.subset(args.train_images)
    if trace_images is not None and trace_images > len(ev):
        raise ZapsimError(f"--trace-images {trace_images} exceeds the {len(ev)} evaluation images")
    for pattern, out in zip(patterns, outs):
        res = trace_model(model, ev, train_images=tr, out=out, model_info=info, pattern=pattern,
                          thresholds=thresholds, budgets=budgets, epochs=args.epochs, batch_size=args.batch_size,
                          seed=args.seed, trace_images=trace_images, calib_images=args.calib_images,
                          device=args.device, zap_dir=args.zap_dir, retrain=args.retrain, overwrite=args.overwrite,
                          progress=not args.quiet, allow_overlap=args.allow_overlap,
                          max_zap_mac_share=args.max_zap_mac_share)
        print(f"\n{args.model}, pattern {pattern}: trace written to {res['path']} "
              f"({len(ev)} evaluation images for accuracy, masks for {trace_images or len(ev)})")
        print(format_table(res["rows"]))
    print(f"\ntotal time {time.perf_counter() - t0:.1f} s")
    return 0


def format_table(rows: list[dict]) -> str:
    """Plain-text table: operating point, thresholds, top-1, change, MAC reduction (all conv+FC MACs)."""
    head = f"{'operating point':<16} {'thresholds':<12} {'top-1':>7} {'change':>7} {'MAC red.':>9} {'net of ZAP':>10}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['op']:<16} {r['thresholds']:<12} {100 * r['top1']:>6.2f}% {100 * r['top1_change']:>+6.2f} "
                     f"{100 * r['mac_reduction']:>8.1f}% {100 * r['mac_reduction_net_of_zap']:>9.1f}%")
    lines.append("MAC reduction: skipped MACs / dense MACs of all conv and FC layers; 'net of ZAP' subtracts the "
                 "ZAPs' own MACs (18*C*H*W per layer).")
    return "\n".join(lines)


def entry() -> None:
    """Console-script entry point (``zapsim-trace``)."""
    sys.exit(cli_main(main))


if __name__ == "__main__":
    entry()
