"""`edgehar review`: a web page to check and correct the labels of a folder of recordings."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from edgehar.cli.app import app
from edgehar.cli.stream import ModelOption, VariantOption, _bundle


@app.command()
def review(
    folder: Annotated[Path, typer.Argument(help="Folder of recordings (NAME.csv + NAME.json, as `record` "
                                           "writes them; HAPT RawData experiments are shown read-only).")],
    model: ModelOption = None,
    variant: VariantOption = "int8",
    http: Annotated[str, typer.Option(
        "--http", metavar="[HOST:]PORT", help="Where to serve the page (127.0.0.1 unless HOST is given; "
        "any other HOST needs the token printed at start in the page's URL).")] = "8765",
) -> None:
    """Serve a page showing each recording's signals, its labels and the model's labels beneath
    (with where they disagree); correct a stretch's label there: the recording is rewritten
    crash-safely, its previous version kept for undo (and redo). Runs until Ctrl-C or SIGTERM."""
    from edgehar.services.web.app import serve_review
    from edgehar.services.web.review import Review

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    server = serve_review(http, Review(folder, _bundle(model), variant))
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
