"""ensel.text: prompt features (template stripping, shapes, dtype) and pluggable feature makers."""

from __future__ import annotations

import numpy as np
import pytest

from ensel.text import PromptFeatures, featurize

PROMPTS = ["Examples...\nQ: add two numbers\nA:", "Examples...\nQ: sort a list\nA:",
           "Examples...\nQ: reverse a string\nA:", "Examples...\nQ: add three numbers\nA:"]


def test_template_is_stripped_and_features_are_dense_float32():
    f = PromptFeatures(n_components=3)
    X = f.fit_transform(PROMPTS)
    assert f.prefix_ == "Examples...\nQ: " and f.suffix_ == "\nA:"
    assert f._strip(PROMPTS[:1]) == ["add two numbers"]
    assert X.shape == (4, 3) and X.dtype == np.float32
    np.testing.assert_allclose(f.transform(PROMPTS), X, atol=1e-5)
    # the two "add ... numbers" prompts are nearest to each other
    Z = X / np.linalg.norm(X, axis=1, keepdims=True)
    sims = Z @ Z.T
    np.fill_diagonal(sims, -1)
    assert int(np.argmax(sims[0])) == 3


def test_no_stripping_keeps_the_text():
    f = PromptFeatures(n_components=2, strip_template=False, char_ngrams=None).fit(PROMPTS)
    assert f.prefix_ == "" and f._strip(PROMPTS[:1]) == PROMPTS[:1]


@pytest.mark.parametrize("bad, match", [
    ("one string", "expects a list of prompt strings"),
    ([1, "a"], "prompt 0 is a int, not a string"),
    ([], "needs at least one prompt"),
])
def test_bad_prompts(bad, match):
    with pytest.raises(ValueError, match=match):
        PromptFeatures().fit(bad)


def test_bad_parameter():
    with pytest.raises(ValueError, match="'n_components' parameter of PromptFeatures"):
        PromptFeatures(n_components=0).fit(PROMPTS)


def test_featurize_with_transformer_and_callable():
    X, Z = featurize(PromptFeatures(n_components=2), PROMPTS, PROMPTS[:2])
    assert X.shape == (4, 2) and Z.shape == (2, 2)
    X, = featurize(lambda ps: np.ones((len(ps), 5)), PROMPTS)
    assert X.shape == (4, 5) and X.dtype == np.float32
    with pytest.raises(ValueError, match=r"'features' gave shape \(3,\) for 4 prompts"):
        featurize(lambda ps: np.ones(3), PROMPTS)
    with pytest.raises(ValueError, match="'features' must be a transformer"):
        featurize(42, PROMPTS)


def test_max_fit_rows_fits_on_a_sample_and_transforms_every_prompt():
    prompts = [f"Q: task {i} about {'lists' if i % 2 else 'numbers'} and item {i % 7}"
               for i in range(40)]
    sampled = PromptFeatures(n_components=3, max_fit_rows=10)
    X = sampled.fit_transform(prompts)
    assert X.shape == (40, 3)
    np.testing.assert_allclose(sampled.transform(prompts), X, atol=1e-5)
    # below the cap nothing changes; above it the vocabulary is the sample's
    everything = PromptFeatures(n_components=3, max_fit_rows=None).fit_transform(prompts)
    np.testing.assert_allclose(PromptFeatures(n_components=3, max_fit_rows=40)
                               .fit_transform(prompts), everything, atol=1e-5)
    assert len(sampled.vectorizers_[0].vocabulary_) < len(
        PromptFeatures(max_fit_rows=None).fit(prompts).vectorizers_[0].vocabulary_)
    with pytest.raises(ValueError, match="'max_fit_rows' parameter of PromptFeatures"):
        PromptFeatures(max_fit_rows=0).fit(prompts)


MIXED = ["The  Quick\tbrown fox,\n\njumps!", "naïve café: a b", "x", "Über  ALLES über alles",
         "def f(x):\n    return x + 1"]


@pytest.mark.parametrize("ngrams", [(2, 5), (3, 5), (1, 1)])
def test_char_tfidf_is_scikit_learns_char_wb_tfidf(ngrams):
    from sklearn.feature_extraction.text import TfidfVectorizer

    from ensel.text import _CharTfidf

    ours = _CharTfidf(ngrams, max_features=10**6)
    ref = TfidfVectorizer(analyzer="char_wb", ngram_range=ngrams, sublinear_tf=True)
    A, B = ours.fit_transform(MIXED), ref.fit_transform(MIXED)
    assert ours.vocabulary_ == ref.vocabulary_ and A.dtype == np.float32
    np.testing.assert_allclose(A.toarray(), B.toarray(), atol=1e-6)
    # unseen tokens, a prompt with none, a short word: as scikit-learn's transform
    new = ["a QUICK unseen brownish fox", "", "   \n ", "x y z", MIXED[1]]
    np.testing.assert_allclose(ours.transform(new).toarray(), ref.transform(new).toarray(),
                               atol=1e-6)


def test_char_vocabulary_keeps_the_most_frequent_ngrams_ties_alphabetically():
    from ensel.text import _CharTfidf

    f = _CharTfidf((2, 2), max_features=3)
    X = f.fit_transform(["ab ab", "cd"])       # ' a', 'ab', 'b ' twice; ' c', 'cd', 'd ' once
    assert f.vocabulary_ == {" a": 0, "ab": 1, "b ": 2}
    assert X.shape == (2, 3) and X[1].nnz == 0
    f = _CharTfidf((2, 2), max_features=4)
    f.fit_transform(["ab ab", "cd"])
    assert f.vocabulary_ == {" a": 0, " c": 1, "ab": 2, "b ": 3}


def test_features_are_float32_throughout_and_zero_for_empty_prompts():
    f = PromptFeatures(n_components=3).fit(MIXED)
    assert [v.transform(MIXED).dtype for v in f.vectorizers_] == [np.float32, np.float32]
    X = f.transform(["", "  \t"])
    assert X.shape == (2, 3) and X.dtype == np.float32 and not X.any()


@pytest.mark.parametrize("param, value, match", [
    ("char_ngrams", (5, 2), r"'char_ngrams\[1\]' parameter of PromptFeatures must be an int >= 5"),
    ("char_ngrams", (0, 3), r"'char_ngrams\[0\]' parameter of PromptFeatures must be an int >= 1"),
    ("word_ngrams", 2, r"'word_ngrams' parameter of PromptFeatures must be a pair"),
    ("word_ngrams", (1, 2, 3), r"'word_ngrams' parameter of PromptFeatures must be a pair"),
    ("char_ngrams", "25", r"'char_ngrams' parameter of PromptFeatures must be a pair"),
    ("n_iter", -1, r"'n_iter' parameter of PromptFeatures must be an int >= 0"),
    ("n_iter", 2.0, r"'n_iter' parameter of PromptFeatures must be an int >= 0"),
])
def test_bad_ngram_ranges_and_n_iter(param, value, match):
    with pytest.raises(ValueError, match=match):
        PromptFeatures(**{param: value}).fit(PROMPTS)
