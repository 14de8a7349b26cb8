"""The ``fkd`` command: train, predict, download, report.

Errors a user can fix (bad data, a missing model, no credentials, a full disk) are
printed as one line, ``fkd: error: ...``, with exit status 1 -- never a traceback.
Ctrl-C (SIGINT) and SIGTERM stop any command with one line and exit status 130,
leaving nothing half-written (see :func:`_stop`). TensorFlow is imported only by the
commands that train or predict, so ``fkd --help`` and data errors answer at once.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any, Sequence

from fkd import __version__
from fkd.atomic import check_destination, check_folder
from fkd.configs import REGISTRY
from fkd.data import DataError
from fkd.errors import FkdError
from fkd.parameters import SEED_MAX
from fkd.profiles import DEFAULT_PROFILE, PROFILES
from fkd.splits import SPLITS


class UserError(FkdError):
    """A problem the user can fix that no other module names (e.g. no trained model yet)."""


def _whole_number(minimum: int, maximum: int | None = None) -> Any:
    """An argparse ``type`` for whole numbers from ``minimum`` (to ``maximum``): argparse's own error otherwise."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum:,}, got {value}")
        return value

    parse.__name__ = f"whole number >= {minimum}"
    return parse


POSITIVE = _whole_number(1)
SEED = _whole_number(0, SEED_MAX)


def _runs_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--runs-dir", type=Path, default=Path("runs"),
        help="folder of run records and cached models (default: ./runs)",
    )


def _cmd_train(args: argparse.Namespace) -> None:
    from fkd.console import import_tensorflow
    from fkd.data import load_training
    from fkd.experiment import run_experiment
    from fkd.sources import resolve_data

    check_folder(args.runs_dir, "run records and models")
    files = resolve_data(args.data)
    _warn_if_demo(files)
    dataset = load_training(files)
    import_tensorflow()
    result = run_experiment(
        args.model, dataset, split=args.split, seed=args.seed, epochs=args.epochs,
        max_train_rows=args.max_train_rows, runs_dir=args.runs_dir,
    )
    how = "reused the cached model" if result.cached else f"trained in {result.seconds:.1f} s"
    print(
        f"{args.model}: {result.split.describe()}; {how}; "
        f"validation RMSE {result.val_rmse:.3f} px "
        f"({result.images_per_second:.0f} training images/s)"
    )


def _trained_model(args: argparse.Namespace, files: Any) -> Any:
    """The latest recorded run of ``args.model`` on these data, reloaded from the run cache."""
    from fkd.configs import ModelConfig
    from fkd.data import load_training
    from fkd.experiment import run_experiment
    from fkd.results import latest_run

    dataset = load_training(files)
    run = latest_run(args.runs_dir, args.model, dataset.fingerprint)
    if run is None:
        data = f" --data {args.data}" if args.data else ""
        raise UserError(
            f"no trained {args.model!r} for these data in {args.runs_dir}; train one first: "
            f"fkd train{data} --model {args.model}"
        )
    from fkd.console import import_tensorflow

    import_tensorflow()
    return run_experiment(
        ModelConfig.from_dict(run["config"]), dataset, split=run["split"], seed=run["seed"],
        epochs=run["epochs"], max_train_rows=run["max_train_rows"], runs_dir=args.runs_dir, progress=False,
    )


def _cmd_predict(args: argparse.Namespace) -> None:
    from fkd.sources import resolve_data

    if args.image is not None:
        return _predict_photo(args)
    from fkd.data import load_test
    from fkd.submission import write_submission

    out = check_destination(args.submission, "submission")
    files = resolve_data(args.data)
    _warn_if_demo(files)
    if files.lookup is None:
        raise DataError("no IdLookupTable.csv in this folder", file=files.root)
    test = load_test(files)
    result = _trained_model(args, files)
    from fkd.train import predict  # TensorFlow: only once the inputs are known to be good

    predictions = predict(result.model, result.config, test.images)
    write_submission(test.image_ids, predictions, files.lookup, out)
    print(f"wrote {out} with predictions of {args.model} for {len(test)} test faces")


def _predict_photo(args: argparse.Namespace) -> None:
    """``fkd predict --image PHOTO``: every face found, its keypoints drawn and (optionally) tabulated."""
    from fkd.sources import resolve_data

    out = check_destination(args.out or Path(f"{args.image.stem}-keypoints.png"), "annotated photo")
    if args.keypoints_csv is not None:
        check_destination(args.keypoints_csv, "keypoints CSV")
    if not args.image.is_file():
        raise DataError("no such photo" if not args.image.exists() else "is not a file", file=args.image)
    files = resolve_data(args.data)
    if files.demo:
        print("*** This model learned from fkd's SYNTHETIC DEMO faces (cartoons): it knows nothing about "
              "real faces. Train it on Kaggle's data (fkd train --data DIR) for keypoints that mean "
              "something. ***", file=sys.stderr)
    result = _trained_model(args, files)
    try:
        from fkd.photo import annotate_photo
    except ImportError as error:
        raise UserError(f"finding faces needs the mtcnn package ({error}); pip install 'mtcnn>=1.0,<2'") from None
    from fkd.train import predict

    found = annotate_photo(args.image, lambda crops: predict(result.model, result.config, crops),
                           out_png=out, keypoints_csv=args.keypoints_csv)
    written = " and ".join(str(p) for p in (out, args.keypoints_csv) if p is not None)
    print(f"{len(found.boxes)} face{'s' * (len(found.boxes) != 1)} found in {args.image}; "
          f"keypoints by {args.model}; wrote {written}")


def _cmd_download(args: argparse.Namespace) -> None:
    from fkd.download import download

    folder = download(args.dest)
    print(f"Kaggle's files are in {folder}; use them with --data {folder}")


def _parse_value(text: str) -> Any:
    """``-p`` values: JSON when it parses (numbers, lists, true/null), else the plain string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _cmd_report(args: argparse.Namespace) -> None:
    from fkd.report import run_report

    from fkd.display import Table

    params = {name: _parse_value(value) for name, value in args.parameters}
    if args.publish:
        from fkd.publish import publish

        if args.data or args.notebooks or params or args.out != Path("reports"):
            raise UserError("--publish renders every notebook on fkd's demo faces, with default parameters, into "
                            "the checkout's reports/ folder: drop --data, --notebooks, --out and -p")
        result = publish(profile=args.profile)
    else:
        result = run_report(data=args.data, profile=args.profile, out=args.out, params=params,
                            notebooks=args.notebooks)
    seconds = dict(result.notebook_seconds or {})
    rows = [[name, f"{value:.0f}"] for name, value in seconds.items()]
    print(repr(Table(["Step", "Seconds"], [*rows, ["all", f"{result.seconds:.0f}"]])))
    print(f"report written to {result.out}:")
    for path in [*result.html, *result.pdf]:
        print(f"  {path}")


def _cmd_classroom(args: argparse.Namespace) -> None:
    from fkd.classroom import ClassroomError, write_classroom
    from fkd.report import study_notebooks

    if args.source is None:
        sources = study_notebooks()
    else:
        sources = sorted(args.source.glob("*.ipynb"))
        if not sources:
            raise ClassroomError(f"{args.source}: no notebooks (*.ipynb) in this folder")
    made = write_classroom(sources, args.out)
    print(f"{len(made.student)} notebooks: students' copies (solutions removed) in {args.out / 'student'}, "
          f"instructor's copies in {args.out / 'instructor'}")


def _add_classroom_command(commands: Any) -> None:
    classroom = commands.add_parser(
        "classroom", help="write students' copies of the notebooks (solutions removed) and instructor's copies")
    classroom.add_argument("--out", type=Path, required=True, help="folder to write student/ and instructor/ into")
    classroom.add_argument("--source", type=Path, metavar="DIR",
                           help="folder of instructor notebooks with solution markers (default: the study's)")
    classroom.set_defaults(func=_cmd_classroom)


def _warn_if_demo(files: Any) -> None:
    if files.demo:
        print(
            "*** Using SYNTHETIC DEMO DATA generated by fkd (no Kaggle files found). Numbers are "
            "not comparable to Kaggle's. Pass --data DIR with Kaggle's files (see `fkd download`). ***",
            file=sys.stderr,
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fkd", description="Facial keypoint detection: train, predict, download data, build the report.",
    )
    parser.add_argument("--version", action="version", version=f"fkd {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    data_help = "folder with Kaggle's files (default: ./data if present, else generated demo data)"

    train = commands.add_parser("train", help="train a model and record the run (reuses the cache)")
    train.add_argument("--data", type=Path, help=data_help)
    train.add_argument("--model", required=True, choices=list(REGISTRY), metavar="NAME",
                       help=f"one of: {', '.join(REGISTRY)}")
    train.add_argument("--epochs", type=POSITIVE, help="override the config's epochs (at least 1)")
    train.add_argument("--seed", type=SEED, default=42, help=f"training seed, 0 to {SEED_MAX:,} (default: 42)")
    train.add_argument("--split", choices=SPLITS,
                       help="validation split (default: 'study' for the study's models, 'grouped' for ours)")
    train.add_argument("--max-train-rows", type=POSITIVE, help="train on a seeded subsample of this many rows")
    _runs_dir_option(train)
    train.set_defaults(func=_cmd_train)

    predict = commands.add_parser(
        "predict", help="write a Kaggle submission, or find the keypoints on your own photo, with a trained model")
    predict.add_argument("--data", type=Path, help=data_help + "; the model is the one trained on these data")
    predict.add_argument("--model", default="best", choices=list(REGISTRY), metavar="NAME",
                         help=f"one of: {', '.join(REGISTRY)} (default: best)")
    what = predict.add_mutually_exclusive_group(required=True)
    what.add_argument("--submission", type=Path, help="write Kaggle's submission CSV for the test faces here")
    what.add_argument("--image", type=Path, metavar="PHOTO",
                      help="a photo (JPEG or PNG): find every face and draw its keypoints")
    predict.add_argument("--out", type=Path, metavar="ANNOTATED.png",
                         help="with --image: where to draw the keypoints (default: PHOTO-keypoints.png here)")
    predict.add_argument("--keypoints-csv", type=Path, metavar="FILE",
                         help="with --image: one row per face, box and 30 coordinates in the photo's pixels")
    _runs_dir_option(predict)
    predict.set_defaults(func=_cmd_predict)

    download = commands.add_parser("download", help="fetch the competition files with your Kaggle credentials")
    download.add_argument("--dest", type=Path, default=None,
                          help="destination folder (default: fkd's data folder, where every command and notebook "
                               "looks: <cache>/kaggle, see `fkd.sources.download_dir`)")
    download.set_defaults(func=_cmd_download)

    report = commands.add_parser("report", help="execute the notebooks and render HTML and PDF reports")
    report.add_argument("--data", type=Path, help=data_help)
    report.add_argument("--profile", choices=list(PROFILES), default=DEFAULT_PROFILE,
                        help="smoke (CI, minutes), standard (laptop CPU), full (the study's settings)")
    report.add_argument("--out", type=Path, default=Path("reports"), help="output folder (default: ./reports)")
    report.add_argument("--notebooks", nargs="+", metavar="NAME",
                        help="execute and render only these notebooks (e.g. 03_augmentation); the combined report "
                             "is rebuilt from every executed notebook, or left as it was")
    report.add_argument("-p", "--parameter", dest="parameters", nargs=2, action="append", default=[],
                        metavar=("NAME", "VALUE"), help="set a notebook parameter (repeatable)")
    report.add_argument("--publish", action="store_true",
                        help="the report kept in the repository: every notebook on demo faces, every model trained "
                             "afresh, into the checkout's reports/ with a record of what it was made from")
    report.set_defaults(func=_cmd_report)

    _add_classroom_command(commands)
    return parser


def _stop(signum: int, frame: object) -> None:
    """SIGINT and SIGTERM: an exception, so that temporary files are removed on the way out.

    Installed for SIGINT too, rather than left to Python, because Python turns SIGINT
    into KeyboardInterrupt only if it was not ignored when the process started -- and
    a shell starts background jobs (``fkd train ... &`` in a script, some CI runners)
    with SIGINT ignored, so Ctrl-C or ``kill -INT`` then left training running to the
    end. Interrupting fkd always stops it; a run meant to outlive the terminal's Ctrl-C
    is started in a session of its own (``setsid fkd train ...``).
    """
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # TensorFlow's C++ start-up chatter (CUDA probes, CPU features) is noise to a user;
    # real failures still surface as Python exceptions.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _stop)
    # The interpreter's last garbage collections walk every object TensorFlow made, which kept an
    # interrupted (or finished) run alive 1 to 5 s after its last line. At exit they skip the objects
    # frozen here; nothing of fkd's waits on them (its files are closed, its temporary files removed).
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)
    try:
        args.func(args)
    except FkdError as error:
        print(f"fkd: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass  # said below: once the interrupted work is let go, its progress bar has had its last word
    else:
        return 0
    print("fkd: interrupted; finished results are kept, nothing half-written was left", file=sys.stderr)
    return 130


if __name__ == "__main__":
    sys.exit(main())
