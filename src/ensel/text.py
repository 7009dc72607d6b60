"""Prompt features for routing: text in, dense ``X[N, F]`` float32 out (a scikit-learn transformer).

`PromptFeatures` is the default; a router accepts any transformer with ``fit``/``transform``
or any callable ``f(prompts) -> X[N, F]`` (e.g. sentence embeddings you already have) in its
place -- see `featurize`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ensel import _validation as V

__all__ = ["PromptFeatures", "featurize"]


def _check_prompts(prompts: Any, owner: str) -> list[str]:
    if isinstance(prompts, str) or not isinstance(prompts, Sequence | np.ndarray):
        raise ValueError(f"{owner} expects a list of prompt strings; got "
                         f"{type(prompts).__name__}.")
    out = list(prompts)
    bad = next((i for i, p in enumerate(out) if not isinstance(p, str)), None)
    if bad is not None:
        raise ValueError(f"{owner}: prompt {bad} is a {type(out[bad]).__name__}, not a string.")
    if not out:
        raise ValueError(f"{owner} needs at least one prompt.")
    return out


def _check_ngrams(value: Any, name: str, owner: str) -> tuple[int, int]:
    """An n-gram range: two ints ``1 <= low <= high``."""
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
        raise ValueError(f"The {name!r} parameter of {owner} must be a pair (low, high) of ints; "
                         f"got {value!r}.")
    low = V.check_int_param(value[0], f"{name}[0]", owner, low=1)
    high = V.check_int_param(value[1], f"{name}[1]", owner, low=low)
    return low, high


def _tokens(text: str) -> list[str]:
    """Lowercased whitespace-separated tokens of a text: what ``char_wb`` n-grams stay within."""
    return text.lower().split()


class _CharTfidf:
    """``TfidfVectorizer(analyzer="char_wb", sublinear_tf=True)``, computed token by token.

    A text's ``char_wb`` n-grams are the n-grams of its whitespace-separated tokens, so its
    n-gram counts are ``C @ G``: its token counts ``C[N, V_tok]`` times each distinct token's
    n-gram counts ``G[V_tok, V_char]``. Every distinct token is analysed once instead of every
    occurrence; the result is scikit-learn's (tested), about ten times faster on long prompts.
    The vocabulary is the ``max_features`` n-grams most frequent in the training texts, ties
    broken alphabetically (scikit-learn leaves ties to an unstable sort).
    """

    def __init__(self, ngram_range: tuple[int, int], max_features: int) -> None:
        self.ngram_range = ngram_range
        self.max_features = max_features

    def _counts(self, texts: list[str]) -> Any:
        """N-gram counts ``[N, V_char]`` float32, the n-grams fitted (``vocabulary_``) or all."""
        from scipy.sparse import csr_matrix
        from sklearn.feature_extraction.text import CountVectorizer

        index: dict[str, int] = {}
        ids = [[index.setdefault(w, len(index)) for w in _tokens(t)] for t in texts]
        indptr = np.cumsum([0] + [len(row) for row in ids])
        flat = np.fromiter((i for row in ids for i in row), dtype=np.int64, count=int(indptr[-1]))
        C = csr_matrix((np.ones(len(flat), dtype=np.float32), flat, indptr),
                       shape=(len(texts), len(index)))
        C.sum_duplicates()
        grams = CountVectorizer(analyzer="char_wb", ngram_range=self.ngram_range, lowercase=False,
                                vocabulary=getattr(self, "vocabulary_", None), dtype=np.float32)
        if hasattr(self, "vocabulary_"):
            if not index:
                return csr_matrix((len(texts), len(self.vocabulary_)), dtype=np.float32)
            return (C @ grams.transform(list(index))).tocsr()
        G = grams.fit_transform(list(index))            # raises when no text has a token
        self.vocabulary_ = grams.vocabulary_
        return (C @ G).tocsr()

    def fit_transform(self, texts: list[str]) -> Any:
        """Fit the vocabulary and the IDF on ``texts``; their TF-IDF ``[N, V]`` float32, CSR."""
        from sklearn.feature_extraction.text import TfidfTransformer

        counts = self._counts(texts)
        if counts.shape[1] > self.max_features:          # columns are in alphabetical order
            totals = np.asarray(counts.sum(axis=0)).ravel()
            keep = np.sort(np.argsort(-totals, kind="stable")[:self.max_features])
            names = np.array(sorted(self.vocabulary_, key=self.vocabulary_.__getitem__))
            self.vocabulary_ = {str(g): j for j, g in enumerate(names[keep])}
            counts = counts[:, keep]
        self.tfidf_ = TfidfTransformer(sublinear_tf=True).fit(counts)
        return self.tfidf_.transform(counts)

    def transform(self, texts: list[str]) -> Any:
        """TF-IDF ``[N, V]`` float32, CSR, of ``texts`` with what was fitted."""
        return self.tfidf_.transform(self._counts(texts))


class PromptFeatures(TransformerMixin, BaseEstimator):
    """Word and character n-gram TF-IDF of prompts, reduced by TruncatedSVD to dense float32.

    Text shared by every training prompt at its start or end (a few-shot template, an
    instruction) says nothing about one prompt; with ``strip_template=True`` the longest
    common prefix and suffix of the training prompts are cut off before the TF-IDF.

    The character TF-IDF is computed once per distinct token (``_CharTfidf``): the numbers of
    scikit-learn's ``TfidfVectorizer(analyzer="char_wb")``, about ten times faster on long
    prompts. Measured on the 10,000 two-question prompts of ``bench_routing.py --scale 10000``
    (3,268 characters on average, fitted on a 2,000-prompt sample, 2 quiet cores): 14 s wall,
    16 s of CPU for the features (86 s of CPU with scikit-learn's character TF-IDF): the SVD's
    fit 3 s (5 s of CPU on two BLAS threads), the sample's TF-IDF 2 s, the other 8,000
    prompts' TF-IDF and projection 6.5 s (word n-grams 4.5 s, characters 2.0 s).

    Parameters
    ----------
    n_components : int, default=128
        Dimensions after the SVD (capped at what the vocabulary allows).
    word_ngrams : (int, int), default=(1, 2)
    char_ngrams : (int, int) or None, default=(2, 5)
        Character n-grams within word boundaries (``"char_wb"``); None: words only.
    max_features : int, default=50_000
        Vocabulary size of each TF-IDF.
    strip_template : bool, default=True
    max_fit_rows : int or None, default=2000
        Learn the template, the vocabularies and the SVD from at most this many training
        prompts (a seeded random sample), then transform them all; None: from all. No change
        below 2,000 training prompts (both RouterBench tasks here have fewer); the SVD's
        fit, the largest part of the time, grows with the rows it is fitted on.
    n_iter : int, default=5
        Power iterations of the randomized SVD (scikit-learn's ``TruncatedSVD``). 2 halves the
        SVD's time but lost AIQ on the RouterBench tasks (ARC learned router 0.921 vs 0.924,
        MBPP selector 0.674 vs 0.690).
    random_state : int, default=0
        Seed of the SVD and of the sample.

    Attributes
    ----------
    prefix_, suffix_ : str
        The template text cut off (empty when ``strip_template=False``).
    n_features_out_ : int

    Examples
    --------
    >>> from ensel.text import PromptFeatures
    >>> prompts = ["Q: add 2 and 3", "Q: sort a list", "Q: reverse a string", "Q: is 7 prime"]
    >>> X = PromptFeatures(n_components=2).fit_transform(prompts)
    >>> X.shape, X.dtype.name
    ((4, 2), 'float32')
    """

    def __init__(self, n_components: int = 128, *, word_ngrams: tuple[int, int] = (1, 2),
                 char_ngrams: tuple[int, int] | None = (2, 5), max_features: int = 50_000,
                 strip_template: bool = True, max_fit_rows: int | None = 2000,
                 n_iter: int = 5, random_state: int = 0) -> None:
        self.n_components = n_components
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams
        self.max_features = max_features
        self.strip_template = strip_template
        self.max_fit_rows = max_fit_rows
        self.n_iter = n_iter
        self.random_state = random_state

    def _strip(self, prompts: list[str]) -> list[str]:
        a, b = len(self.prefix_), len(self.suffix_)
        return [p[a if p.startswith(self.prefix_) else 0:
                  len(p) - (b if b and p.endswith(self.suffix_) else 0)] for p in prompts]

    def fit(self, prompts: Sequence[str], y: Any = None) -> PromptFeatures:
        """Learn the template, the vocabularies and the SVD from training prompts.

        Parameters
        ----------
        prompts : list of str, length N
        y : ignored

        Returns
        -------
        self : PromptFeatures
        """
        self.fit_transform(prompts)
        return self

    def fit_transform(self, prompts: Sequence[str], y: Any = None) -> np.ndarray:
        """`fit`, then `transform` of the same prompts: ``X[N, n_features_out_]`` float32."""
        prompts = _check_prompts(prompts, "PromptFeatures.fit")
        if self.max_fit_rows is not None:
            V.check_int_param(self.max_fit_rows, "max_fit_rows", "PromptFeatures", low=1)
            if len(prompts) > self.max_fit_rows:
                rng = np.random.default_rng(self.random_state)
                rows = np.sort(rng.choice(len(prompts), self.max_fit_rows, replace=False))
                T, _ = self._fit_on([prompts[i] for i in rows])
                rest = np.setdiff1d(np.arange(len(prompts)), rows)
                X = np.empty((len(prompts), self.n_features_out_), dtype=np.float32)
                X[rows] = self.svd_.transform(T)        # the sample's TF-IDF is not redone
                X[rest] = self.transform([prompts[i] for i in rest])
                return X
        return self._fit_on(prompts)[1]

    def _fit_on(self, prompts: list[str]) -> tuple[Any, np.ndarray]:
        """Fit on ``prompts`` (checked); their TF-IDF ``T`` (CSR) and features ``X``."""
        from scipy.sparse import hstack
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        owner = "PromptFeatures"
        V.check_int_param(self.n_components, "n_components", owner, low=1)
        V.check_int_param(self.max_features, "max_features", owner, low=1)
        V.check_int_param(self.n_iter, "n_iter", owner, low=0)
        V.check_bool_param(self.strip_template, "strip_template", owner)
        word_ngrams = _check_ngrams(self.word_ngrams, "word_ngrams", owner)
        char_ngrams = (None if self.char_ngrams is None
                       else _check_ngrams(self.char_ngrams, "char_ngrams", owner))
        self.prefix_, self.suffix_ = "", ""
        if self.strip_template and len(prompts) > 1:
            self.prefix_ = os.path.commonprefix(prompts)
            rest = [p[len(self.prefix_):] for p in prompts]
            self.suffix_ = os.path.commonprefix([p[::-1] for p in rest])[::-1]
        text = self._strip(prompts)
        self.vectorizers_ = [TfidfVectorizer(ngram_range=word_ngrams, sublinear_tf=True,
                                             max_features=self.max_features, dtype=np.float32)]
        if char_ngrams is not None:
            self.vectorizers_.append(_CharTfidf(char_ngrams, self.max_features))
        T = hstack([v.fit_transform(text) for v in self.vectorizers_]).tocsr()
        k = max(1, min(self.n_components, T.shape[1] - 1, len(prompts) - 1))
        self.svd_ = TruncatedSVD(n_components=k, n_iter=self.n_iter,
                                 random_state=self.random_state)
        X = self.svd_.fit_transform(T.tocsc())          # measured: 30% faster than from CSR
        self.n_features_out_ = int(X.shape[1])
        return T, X.astype(np.float32, copy=False)

    def transform(self, prompts: Sequence[str]) -> np.ndarray:
        """Features of prompts: ``X[N, n_features_out_]`` float32.

        Parameters
        ----------
        prompts : list of str, length N

        Returns
        -------
        ndarray of shape (N, n_features_out_), float32
        """
        check_is_fitted(self, "svd_")
        text = self._strip(_check_prompts(prompts, "PromptFeatures.transform"))
        # the SVD's projection of [T_word, T_char], block by block (no stacked copy of the TF-IDF)
        blocks = np.cumsum([len(v.vocabulary_) for v in self.vectorizers_])[:-1]
        parts = np.split(self.svd_.components_, blocks, axis=1)
        X = sum(v.transform(text) @ W.T for v, W in zip(self.vectorizers_, parts, strict=True))
        return np.asarray(X, dtype=np.float32)


def featurize(features: Any, train: Sequence[str], *others: Sequence[str]
              ) -> tuple[np.ndarray, ...]:
    """Features of training prompts and of other prompt lists, with any feature maker.

    Parameters
    ----------
    features : transformer or callable
        A scikit-learn-style transformer (fitted here on ``train``), or a callable
        ``f(prompts) -> X[N, F]`` used as is (e.g. precomputed embeddings).
    train : list of str
    *others : list of str
        E.g. the test prompts (transformed with what was fitted on ``train``).

    Returns
    -------
    tuple of ndarray of shape (N_i, F), float32
        ``train``'s features first.

    Examples
    --------
    >>> from ensel.text import featurize
    >>> X, Z = featurize(lambda ps: [[len(p)] for p in ps], ["ab", "abc"], ["a"])
    >>> X.tolist(), Z.tolist()
    ([[2.0], [3.0]], [[1.0]])
    """
    if hasattr(features, "fit") and hasattr(features, "transform"):
        first = (features.fit_transform(train) if hasattr(features, "fit_transform")
                 else features.fit(train).transform(train))
        outs = [first, *(features.transform(o) for o in others)]
    elif callable(features):
        outs = [features(p) for p in (train, *others)]
    else:
        raise ValueError(f"'features' must be a transformer (fit/transform) or a callable "
                         f"prompts -> X[N, F]; got {type(features).__name__}.")
    result = []
    for prompts, X in zip((train, *others), outs, strict=True):
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[0] != len(prompts):
            raise ValueError(f"'features' gave shape {X.shape} for {len(prompts)} prompts; "
                             f"expected [N, F].")
        V.check_finite(X, "features")
        result.append(X)
    return tuple(result)
