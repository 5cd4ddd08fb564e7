"""Three cheap real-data ensemble members for measuring `kre ensemble --method stack` / `--calibrate`.

TF-IDF features of the entity-marked sentence + logistic regression, trained on a kre split's
train.csv and scored on its valid.csv (valid_probs.csv) and on test_data.csv (probs.csv), one
folder per member in the current directory. Not fine-tuned encoders. About 27 min on 2 busy cores.

    python bench/ensemble_members.py splits/0001-train-v0.1-s42
    kre ensemble char word between --method stack --calibrate
"""
import sys
from pathlib import Path
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from kre.data import read_examples
from kre.data.probs import write_probs
from kre.labels import DEFAULT_LABELS as L

split = Path(sys.argv[1])
train = read_examples(split / "train.csv")
valid = read_examples(split / "valid.csv")
test = read_examples("/work/shared/data/klue-re/test_data.csv")

def marked(e):
    s = e.sentence
    spans = sorted([(e.subject.start, e.subject.end, "S", e.subject.type), (e.object.start, e.object.end, "O", e.object.type)], reverse=True)
    for a, b, r, t in spans:
        s = s[:a] + f" [{r}:{t}] " + s[a:b + 1] + f" [/{r}] " + s[b + 1:]
    return s

def pair(e):
    return f"{e.subject.type}_{e.object.type} S={e.subject.word} O={e.object.word} " + " ".join(e.sentence[min(e.subject.end, e.object.end)+1:max(e.subject.start, e.object.start)].split()[:6])

members = {
    "char": (marked, TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), min_df=3, sublinear_tf=True, max_features=200000), 4.0),
    "word": (marked, TfidfVectorizer(analyzer="word", ngram_range=(1, 2), min_df=2, sublinear_tf=True), 8.0),
    "between": (pair, TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), min_df=2, sublinear_tf=True), 2.0),
}
y = np.array(L.ids([e.label for e in train]))
for name, (fmt, vec, c) in members.items():
    model = make_pipeline(vec, LogisticRegression(C=c, max_iter=300))
    model.fit([fmt(e) for e in train], y)
    def full(p):
        out = np.zeros((p.shape[0], len(L))); out[:, model.classes_] = p; return out
    out = Path(name); out.mkdir(exist_ok=True)
    write_probs(out / "valid_probs.csv", [e.id for e in valid], full(model.predict_proba([fmt(e) for e in valid])), L, gold=[e.label for e in valid])
    write_probs(out / "probs.csv", [e.id for e in test], full(model.predict_proba([fmt(e) for e in test])), L)
    print(name, "done", flush=True)
