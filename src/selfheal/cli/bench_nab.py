"""``selfheal bench nab``: run a detector over the Numenta Anomaly Benchmark.

Streams every file under ``DIR/data`` through a fresh detector from the
analysis stage's registry, writes NAB-format result files and prints the
three NAB profile scores from the project's own scorer.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from selfheal.core.errors import ConfigError


@click.command("nab")
@click.option(
    "--data",
    "data_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="NAB corpus root (holds data/, optionally labels/ and config/).",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to write OUT/<detector>/<category>/<detector>_<file>.csv.",
)
@click.option(
    "--detector",
    "detector_name",
    default="seasonalrange",
    show_default=True,
    help="Registered detector name (the default is the loop's default detector, "
    "detection.detector; 'seasonalart' adds the fuzzy-ART member, too slow for the loop).",
)
def nab(data_dir: Path, out_dir: Path, detector_name: str) -> None:
    """Score a detector on NAB (standard, reward_low_FP_rate, reward_low_FN_rate)."""
    # Imported here so that ``selfheal --help`` and other commands stay fast.
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from selfheal.analysis.detection.registry import registry
    from selfheal.bench.nab.corpus import load_corpus, load_profiles
    from selfheal.bench.nab.runner import run_corpus
    from selfheal.bench.nab.scorer import score_corpus

    console = Console(stderr=True)
    if detector_name not in registry:
        raise click.BadParameter(
            f"unknown detector {detector_name!r}; known: {', '.join(registry.names())}",
            param_hint="--detector",
        )
    try:
        files = load_corpus(data_dir)
        profiles = load_profiles(data_dir)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    rows = sum(len(f.values) for f in files)
    start = time.perf_counter()
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[current]}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task(f"nab {detector_name}", total=len(files), current="")

        def done(f: object) -> None:
            progress.update(task, advance=1, current=getattr(f, "relpath", ""))

        scores = run_corpus(
            files, lambda: registry.create(detector_name), out_dir, detector_name, done
        )
    elapsed = time.perf_counter() - start
    has_labels = (data_dir / "labels" / "combined_windows.json").is_file()
    click.echo(
        f"{detector_name}: {len(files)} files, {rows} rows in {elapsed:.1f} s; "
        f"results in {out_dir / detector_name}"
    )
    if not has_labels:
        click.echo("no labels/combined_windows.json: result files written, nothing to score")
        return
    pairs = [(s, f.windows) for s, f in zip(scores, files, strict=True)]
    for profile in profiles.values():
        result = score_corpus(pairs, profile)
        click.echo(
            f"{profile.name}: {result.normalized:.1f} "
            f"(threshold {result.threshold:.6g}, TP {result.true_positives}, "
            f"FN {result.false_negatives}, FP {result.false_positives})"
        )
