"""`ofa-mcu report`: an HTML report (one self-contained file) and a Markdown summary of an output folder."""

from __future__ import annotations

import click


@click.command()
@click.argument("folder", type=click.Path(file_okay=False, exists=True))
@click.option("--html", "html_path", type=click.Path(dir_okay=False), default=None,
              help="Where to write the HTML report (default: FOLDER/report.html).")
@click.option("--md", "md_path", type=click.Path(dir_okay=False), default=None,
              help="Where to write the Markdown summary (default: FOLDER/report.md).")
def report(folder: str, html_path: str | None, md_path: str | None) -> None:
    """Write FOLDER/report.html and FOLDER/report.md from whatever FOLDER holds.

    FOLDER is an `ofa-mcu demo` output, or any folder with a training run (metrics.json), search
    results (search.json) and compiled firmware projects (compile.json; build.json and profile.json
    when built and profiled). The HTML has, per board, the chosen subnet, accuracy float/INT8,
    SRAM and flash against the budget, per-layer SRAM with the peak marked, per-layer latency
    (measured when profiled, else predicted and labelled so) and the Pareto front; the family
    table; the training curves. report.md holds the family table for pull requests and CI logs.
    """
    from pathlib import Path

    from ofa_mcu.atomic import check_writable
    from ofa_mcu.report import family_table_text, write_report

    check_writable(html_path or Path(folder) / "report.html")
    check_writable(md_path or Path(folder) / "report.md")

    data, html, md = write_report(folder, html_path, md_path)
    click.echo(family_table_text(data))
    for note in data.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(f"report: {html}")
    click.echo(f"summary: {md}")
