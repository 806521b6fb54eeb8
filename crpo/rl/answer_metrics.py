"""Scores of one answer against its ground truth for the problem types Video-R1 trains on, reimplemented.

Sources (github.com/tulerfeng/Video-R1): its GRPO training reward, src/r1-v/src/open_r1/grpo.py at commit
d7399617b240a55ccdc4dd0c71d814b640144ff8 (`accuracy_reward` with its helpers `wer` and `compute_rouge_score`),
and its benchmark scorer, src/eval_bench.py at commit 603ebbc15bcb883ed1fbfee35dd535f383133f82
(`mean_relative_accuracy`). Free-form answers are scored there with Google's `rouge_score` package (which stems
with nltk's Porter stemmer) and OCR answers with a word-level edit distance; both are rebuilt here without those
packages, and tests/test_videor1_rewards.py checks them against `rouge_score`, nltk and `jiwer` (dev extras).

    words(t)        = lower-case t, every run of characters outside [a-z0-9] becomes a space, split
    rouge_tokens(t) = words(t), each word longer than 3 characters Porter-stemmed (nltk's default mode)
    ROUGE-N F1      = 2 P R / (P + R),  P = |ngrams(pred) & ngrams(ref)| / max(1, #ngrams(pred)),
                                        R = |ngrams(pred) & ngrams(ref)| / max(1, #ngrams(ref))   (multiset overlap)
    ROUGE-L F1      = 2 P R / (P + R),  P = LCS / |pred|, R = LCS / |ref|; 0 when either side is empty
    WER(ref, hyp)   = Levenshtein(ref words, hyp words) / max(1, |ref words|), words split on whitespace
    free_form_score = clamp((ROUGE-1 + ROUGE-2 + ROUGE-L F1) / 3, 0, 1)   over rouge_tokens
    ocr_score       = clamp(1 - WER(truth, prediction), 0, 1)
    MRA             = 1/10 * #{theta in 0.50, 0.55, ..., 0.95 : |y_hat - y| / (|y| + 1e-8) < 1 - theta}
    relative acc.   = 1 - min(1, (|y_hat - y| + 1e-9) / (|y| + 1e-9))
"""
from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Sequence

# ---------------------------------------------------------------------------------------------------------------
# Porter stemmer, as nltk's PorterStemmer() (mode NLTK_EXTENSIONS) stems: that is the stemmer `rouge_score` uses
# with use_stemmer=True, which Video-R1 sets. M. F. Porter, "An algorithm for suffix stripping", Program 14(3),
# 1980, plus nltk's extensions (marked "nltk:" below). A suffix rule table is tried in order; the FIRST suffix that
# matches decides -- if its condition fails the word is left as it is, no later rule is tried.

_IRREGULAR = {"skies": "sky", "sky": "sky", "dying": "die", "lying": "lie", "tying": "tie", "news": "news",
              "innings": "inning", "inning": "inning", "outings": "outing", "outing": "outing",
              "cannings": "canning", "canning": "canning", "howe": "howe", "proceed": "proceed",
              "exceed": "exceed", "succeed": "succeed"}


def _consonants(word: str) -> list[bool]:
    # A consonant is a letter other than a, e, i, o, u, and other than a y that follows a consonant.
    flags: list[bool] = []
    for i, ch in enumerate(word):
        flags.append(ch not in "aeiou" and (ch != "y" or i == 0 or not flags[i - 1]))
    return flags


def _measure(stem: str) -> int:
    """m in [C](VC)^m[V]: the number of vowel-to-consonant transitions."""
    flags = _consonants(stem)
    return sum(1 for a, b in zip(flags, flags[1:]) if not a and b)


def _has_vowel(stem: str) -> bool:
    return not all(_consonants(stem))


def _double_consonant(word: str) -> bool:
    return len(word) >= 2 and word[-1] == word[-2] and _consonants(word)[-1]


def _cvc(word: str) -> bool:
    """*o: the word ends consonant-vowel-consonant, the last not w, x or y (nltk: or is a 2-letter vowel-consonant)."""
    c = _consonants(word)
    if len(word) >= 3:
        return c[-3] and not c[-2] and c[-1] and word[-1] not in "wxy"
    return len(word) == 2 and not c[0] and c[1]


def _m_above(k: int):
    return lambda stem: _measure(stem) > k


def _first_rule(word: str, rules) -> str:
    for suffix, replacement, condition in rules:
        if word.endswith(suffix):
            stem = word[: len(word) - len(suffix)]
            return stem + replacement if condition is None or condition(stem) else word
    return word


_STEP2 = [(s, r, _m_above(0)) for s, r in (
    ("ational", "ate"), ("tional", "tion"), ("enci", "ence"), ("anci", "ance"), ("izer", "ize"), ("bli", "ble"),
    ("alli", "al"), ("entli", "ent"), ("eli", "e"), ("ousli", "ous"), ("ization", "ize"), ("ation", "ate"),
    ("ator", "ate"), ("alism", "al"), ("iveness", "ive"), ("fulness", "ful"), ("ousness", "ous"), ("aliti", "al"),
    ("iviti", "ive"), ("biliti", "ble"), ("fulli", "ful"))]  # nltk: bli (not abli) -> ble, and fulli -> ful
_STEP3 = [(s, r, _m_above(0)) for s, r in (
    ("icate", "ic"), ("ative", ""), ("alize", "al"), ("iciti", "ic"), ("ical", "ic"), ("ful", ""), ("ness", ""))]
_STEP4 = [(s, "", _m_above(1)) for s in (
    "al", "ance", "ence", "er", "ic", "able", "ible", "ant", "ement", "ment", "ent")]
_STEP4 += [("ion", "", lambda stem: _measure(stem) > 1 and stem[-1] in "st")]
_STEP4 += [(s, "", _m_above(1)) for s in ("ou", "ism", "ate", "iti", "ous", "ive", "ize")]


def _step1(w: str) -> str:
    # 1a: plurals (nltk: a 4-letter "-ies" word keeps "ie": dies -> die, but flies -> fli)
    w = w[:-3] + "ie" if w.endswith("ies") and len(w) == 4 else _first_rule(
        w, [("sses", "ss", None), ("ies", "i", None), ("ss", "ss", None), ("s", "", None)])
    # 1b: -eed, -ed, -ing (nltk: "-ied" -> "ie" for 4 letters, else "i")
    if w.endswith("ied"):
        w = w[:-3] + ("ie" if len(w) == 4 else "i")
    elif w.endswith("eed"):
        w = w[:-1] if _measure(w[:-3]) > 0 else w
    else:
        for suffix in ("ed", "ing"):
            if w.endswith(suffix) and _has_vowel(w[: -len(suffix)]):
                w = w[: -len(suffix)]
                if w.endswith(("at", "bl", "iz")):
                    w += "e"
                elif _double_consonant(w):
                    w = w if w[-1] in "lsz" else w[:-1]
                elif _measure(w) == 1 and _cvc(w):
                    w += "e"
                break
    # 1c (nltk): y -> i after a consonant that is not the first letter (happy -> happi, enjoy stays)
    if w.endswith("y") and len(w) > 2 and _consonants(w[:-1])[-1]:
        w = w[:-1] + "i"
    return w


def _step2(w: str) -> str:
    # nltk: "-alli" -> "-al" first, and the result goes through step 2 again
    if w.endswith("alli") and _measure(w[:-4]) > 0:
        return _step2(w[:-4] + "al")
    # nltk: "-logi" -> "-log" when the stem with its "l" has m > 0 (so geo-logi works like archaeo-logi)
    return _first_rule(w, _STEP2 + [("logi", "log", lambda stem: _measure(w[:-3]) > 0)])


def _step5(w: str) -> str:
    if w.endswith("e"):
        m = _measure(w[:-1])
        if m > 1 or m == 1 and not _cvc(w[:-1]):
            w = w[:-1]
    return w[:-1] if w.endswith("ll") and _measure(w[:-1]) > 1 else w


@functools.lru_cache(maxsize=1 << 16)  # rollouts repeat their words: stem each once
def porter_stem(word: str) -> str:
    """The Porter stem of a word, as nltk's `PorterStemmer().stem(word)` (lower-cases; 1-2 letters stay)."""
    w = word.lower()
    if w in _IRREGULAR:
        return _IRREGULAR[w]
    if len(word) <= 2:
        return w
    return _step5(_first_rule(_first_rule(_step2(_step1(w)), _STEP3), _STEP4))


# ---------------------------------------------------------------------------------------------------------------
# ROUGE, as rouge_score.rouge_scorer.RougeScorer(..., use_stemmer=True).score(reference, prediction)

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def words(text: str) -> list[str]:
    """Lower-case alphanumeric words: what ROUGE's tokenizer sees before stemming."""
    return _NON_ALNUM.sub(" ", text.lower()).split()


def rouge_tokens(text: str, stem: bool = True) -> list[str]:
    """rouge_score's default tokenizer: `words`, and (stem) words of more than 3 characters Porter-stemmed."""
    tokens = [porter_stem(w) if stem and len(w) > 3 else w for w in words(text)]
    return [t for t in tokens if t]


def _tokens(x: str | Sequence[str]) -> list[str]:
    return x.split() if isinstance(x, str) else list(x)


def _f1(overlap: int, n_pred: int, n_ref: int) -> float:
    precision, recall = overlap / max(n_pred, 1), overlap / max(n_ref, 1)
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def rouge_n(prediction: str | Sequence[str], reference: str | Sequence[str], n: int) -> float:
    """ROUGE-N F1 over token lists (a string is split on whitespace); the module docstring has the formula."""
    p, r = _tokens(prediction), _tokens(reference)
    grams_p = Counter(tuple(p[i:i + n]) for i in range(len(p) - n + 1))
    grams_r = Counter(tuple(r[i:i + n]) for i in range(len(r) - n + 1))
    return _f1(sum((grams_p & grams_r).values()), sum(grams_p.values()), sum(grams_r.values()))


def rouge_l(prediction: str | Sequence[str], reference: str | Sequence[str]) -> float:
    """ROUGE-L F1 over token lists (a string is split on whitespace): longest common subsequence."""
    p, r = _tokens(prediction), _tokens(reference)
    if not p or not r:
        return 0.0
    prev = [0] * (len(r) + 1)
    for a in p:
        cur = [0]
        for j, b in enumerate(r):
            cur.append(prev[j] + 1 if a == b else max(prev[j + 1], cur[j]))
        prev = cur
    return _f1(prev[-1], len(p), len(r))


# ---------------------------------------------------------------------------------------------------------------
# Word error rate

def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word-level Levenshtein distance (substitution, insertion, deletion: cost 1 each) between the whitespace-split
    texts, divided by max(1, number of reference words). Case and punctuation count, as in Video-R1 and jiwer."""
    ref, hyp = reference.split(), hypothesis.split()
    prev = list(range(len(hyp) + 1))  # distance from the empty reference prefix: j insertions
    for i, a in enumerate(ref, 1):
        cur = [i]
        for j, b in enumerate(hyp, 1):
            cur.append(prev[j - 1] if a == b else 1 + min(prev[j], cur[j - 1], prev[j - 1]))
        prev = cur
    return prev[-1] / max(1, len(ref))


# ---------------------------------------------------------------------------------------------------------------
# Video-R1's scores of one answer (the problem types of crpo.rl.rewards.answer_score)

def mean_relative_accuracy(predicted: float, truth: float) -> float:
    """Mean relative accuracy (VSI-Bench's metric; Video-R1 src/eval_bench.py @ 603ebbc, `mean_relative_accuracy`):

        MRA = 1/10 * sum over theta in {0.50, 0.55, ..., 0.95} of [ |y_hat - y| / (|y| + 1e-8) < 1 - theta ]

    so within 5% of the truth scores 1.0, within 50% scores 0.1, beyond that 0. The thresholds 1 - theta are
    (10 - k) / 20 in float64; Video-R1 computes in float32 torch tensors, which can only differ when the relative
    error lies within float32 rounding of a threshold.
    """
    rel = abs(predicted - truth) / (abs(truth) + 1e-8)
    return sum(rel < (10 - k) / 20 for k in range(10)) / 10


def relative_accuracy(predicted: float, truth: float) -> float:
    """Video-R1's training reward for regression (grpo.py @ d7399617, `accuracy_reward`, question_type
    "regression"): 1 - min(1, (|y_hat - y| + 1e-9) / (|y| + 1e-9)), continuous in [0, 1]."""
    return 1.0 - min(1.0, (abs(predicted - truth) + 1e-9) / (abs(truth) + 1e-9))


def free_form_score(predicted: str, truth: str) -> float:
    """Video-R1's free-form reward (grpo.py @ d7399617, `compute_rouge_score`): the mean of the ROUGE-1, ROUGE-2
    and ROUGE-L F1 over `rouge_tokens` (stemmed, as rouge_score with use_stemmer=True), clamped to [0, 1].

        score = clamp((F1_rouge1 + F1_rouge2 + F1_rougeL) / 3, 0, 1)

    A one-word answer has no bigram, so it scores at most 2/3 even when it is right, as in Video-R1."""
    p, r = rouge_tokens(predicted), rouge_tokens(truth)
    return min(1.0, max(0.0, (rouge_n(p, r, 1) + rouge_n(p, r, 2) + rouge_l(p, r)) / 3))


def ocr_score(predicted: str, truth: str) -> float:
    """Video-R1's OCR reward (grpo.py @ d7399617, `wer` and question_type "OCR"): clamp(1 - WER(truth, predicted),
    0, 1), the word error rate over whitespace-split words with case and punctuation counted."""
    return min(1.0, max(0.0, 1.0 - word_error_rate(truth, predicted)))
