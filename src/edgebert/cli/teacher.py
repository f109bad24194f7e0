"""`edgebert teacher`: give a pretrained encoder a classification head on your data (a cheap teacher)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import LABEL_COLUMN_HELP, PAIR_COLUMN_HELP, TEXT_COLUMN_HELP, app, out, user_errors


@app.command()
@user_errors
def teacher(
    out_dir: Path = typer.Option(..., "--out", help="Folder for the teacher checkpoint."),
    base: Optional[Path] = typer.Option(None, "--base", help="Pretrained encoder: a HF folder "
                                        "of a supported family, or a shipped one (minilm-l6, mpnet-base) "
                                        "[default: minilm-l6]"),
    data: Optional[Path] = typer.Option(None, "--data", help="Labelled data [default: packaged Rotten Tomatoes]."),
    seq_len: int = typer.Option(64, "--seq-len"),
    pooling: str = typer.Option("mean", "--pooling", help="mean (sentence encoders) or cls (BERT pooler)."),
    top_layers: int = typer.Option(2, "--top-layers", help="Top layers fine-tuned with the head (0: head only)."),
    epochs: int = typer.Option(2, "--epochs"),
    seed: int = typer.Option(0, "--seed"),
    text_column: Optional[str] = typer.Option(None, "--text-column", help=TEXT_COLUMN_HELP),
    text_pair_column: Optional[str] = typer.Option(None, "--text-pair-column", help=PAIR_COLUMN_HELP),
    label_column: Optional[str] = typer.Option(None, "--label-column", help=LABEL_COLUMN_HELP),
) -> None:
    """Give a pretrained encoder a classification head on your data (a cheap teacher)."""
    from ..assets import default_encoder_dir, shipped_encoder_dir
    from ..data import Columns
    from ..fsutil import check_output_dir
    from ..inputs import load_data
    from ..teacher_head import TeacherConfig, train_head

    cfg = TeacherConfig(max_seq_len=seq_len, pooling=pooling, seed=seed, finetune_top_layers=top_layers,
                        finetune_epochs=epochs)
    check_output_dir(out_dir, "--out")
    labelled = load_data(data, Columns(text_column, text_pair_column, label_column))
    base_dir = (shipped_encoder_dir(str(base)) if base and not base.exists() else None) or base
    if base_dir is not None and not base_dir.exists():
        from ..assets import SHIPPED_ENCODERS
        from ..errors import EdgebertError

        raise EdgebertError(f"--base {base} is neither a folder nor a shipped encoder",
                            f"pass a Hugging Face encoder folder or one of {', '.join(SHIPPED_ENCODERS)}")
    info = train_head(base_dir or default_encoder_dir(), labelled, out_dir, cfg)
    out.print(f"teacher written to {info['out']}: dev accuracy {info['dev_accuracy']:.4f} in {info['seconds']} s")
