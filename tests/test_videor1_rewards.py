"""Video-R1's reward types (crpo/rl/answer_metrics.py, crpo/rl/rewards.py `answer_score`): hand values, and the same
numbers as the libraries Video-R1 calls (rouge_score with nltk's Porter stemmer, jiwer for WER; dev extras)."""
import random

import pytest

from crpo.rl.answer_metrics import (free_form_score, mean_relative_accuracy, ocr_score, porter_stem, relative_accuracy,
                                    rouge_l, rouge_n, rouge_tokens, word_error_rate)
from crpo.rl.answers import extract_answer, normalize_answer
from crpo.rl.rewards import accuracy_reward, answer_score

NEW_TYPES = ("numerical", "regression", "ocr", "free_form")

# ----------------------------------------------------------------------------------------------- hand values


@pytest.mark.parametrize("pred, expected", [
    (10.0, 1.0), (10.4, 1.0),          # relative error 0.04 < 0.05 = 1 - 0.95: every threshold passes
    (10.6, 0.9),                       # 0.06: the strictest threshold (0.95) fails
    (13.2, 0.4), (6.8, 0.4),           # 0.32 < 0.50, 0.45, 0.40, 0.35 only
    (5.3, 0.1), (4.9, 0.0), (16.0, 0.0), (-10.0, 0.0),
])
def test_mean_relative_accuracy_by_hand(pred, expected):
    assert mean_relative_accuracy(pred, 10.0) == pytest.approx(expected)


def test_mean_relative_accuracy_at_zero_and_relative_accuracy():
    assert mean_relative_accuracy(0.0, 0.0) == 1.0 and mean_relative_accuracy(0.1, 0.0) == 0.0
    assert relative_accuracy(12.0, 10.0) == pytest.approx(0.8)
    assert relative_accuracy(30.0, 10.0) == 0.0 and relative_accuracy(10.0, 10.0) == pytest.approx(1.0)
    assert relative_accuracy(0.0, 0.0) == 0.0  # Video-R1's eps: (0 + 1e-9) / (0 + 1e-9) = 1, so 1 - 1


def test_regression_and_numerical_scores():
    assert answer_score("13.2", "10", "regression") == pytest.approx(0.4)                # MRA by default
    assert answer_score("12", "10", "regression", regression="relative") == pytest.approx(0.8)
    assert accuracy_reward(["10", "13.2", None], ["10"] * 3, "regression") == [1.0, pytest.approx(0.4), 0.0]
    assert answer_score("1000", "1,000", "numerical") == 1.0                              # separators dropped
    assert answer_score("2.504", "2.5", "numerical") == 1.0 and answer_score("2.51", "2.5", "numerical") == 0.0
    with pytest.raises(ValueError, match="regression score"):
        answer_score("1", "1", "regression", regression="exact")


def test_word_error_rate_and_ocr_by_hand():
    assert word_error_rate("the cat sat on the mat", "the cat sat") == pytest.approx(3 / 6)   # 3 deletions
    assert word_error_rate("a b c", "a x c d") == pytest.approx(2 / 3)                      # 1 sub + 1 insertion
    assert word_error_rate("a", "b c d") == 3.0 and ocr_score("b c d", "a") == 0.0          # clamped at 0
    assert ocr_score("Hello World", "hello world") == 0.0    # case counts, as in Video-R1
    assert ocr_score("EXIT 12", "EXIT 12") == 1.0
    assert answer_score(extract_answer("<answer> STOP\n now </answer>", "ocr"), "STOP now", "ocr") == 1.0


def test_free_form_rouge_by_hand():
    # one right word: ROUGE-1 = ROUGE-L = 1 but no bigram, so 2/3 (Video-R1 has the same ceiling)
    assert free_form_score("zig", "zig") == pytest.approx(2 / 3)
    # [red, ball] vs [the, red, ball]: R1 = R_L = 2*1*(2/3)/(5/3) = 0.8, R2 = 2*1*(1/2)/(3/2) = 2/3
    assert free_form_score("red ball", "The red ball") == pytest.approx((0.8 + 2 / 3 + 0.8) / 3)
    # stemming: running -> run, dogs -> dog; "runs" -> run; words of 3 letters or fewer are not stemmed
    assert rouge_tokens("Running DOGS, runs!") == ["run", "dog", "run"]
    assert free_form_score("the running dogs", "The dogs run.") == pytest.approx(free_form_score("the run dog",
                                                                                                "the dog run"))
    assert rouge_n("a b a", "a a", 1) == pytest.approx(2 * 1 * (2 / 3) / (1 + 2 / 3))  # clipped counts
    assert rouge_n("a", "a b", 2) == 0.0 and rouge_l([], ["a"]) == 0.0
    assert answer_score(extract_answer("<answer>The Red, ball!</answer>", "free_form"), "the red ball",
                        "free_form") == 1.0


def test_extraction_and_normalisation_of_the_new_types():
    assert extract_answer("<answer>About 3.5 meters</answer>", "regression") == "3.5"
    assert extract_answer("<answer>3 or 4 meters</answer>", "regression") is None
    assert extract_answer("<think>it says</think><answer> Hello,\n  World! </answer>", "ocr") == "Hello, World!"
    assert extract_answer("<answer>   </answer>", "ocr") is None
    assert normalize_answer("1,000.50", "regression") == "1000.5" and normalize_answer("x", "numerical") is None
    assert normalize_answer(" The Cat. ", "free_form") == "the cat" and normalize_answer("a  B", "ocr") == "a B"


@pytest.mark.parametrize("kind", NEW_TYPES)
def test_unknown_truth_stays_unscored_and_unreadable_answers_score_zero(kind):
    truth = {"numerical": "3", "regression": "2.5", "ocr": "EXIT", "free_form": "a red ball"}[kind]
    assert answer_score("3", None, kind) is None and answer_score(None, None, kind) is None
    assert accuracy_reward(["3", None], [None, None], kind) == [None, None]
    assert answer_score(None, truth, kind) == 0.0


# ----------------------------------------------------------------------------------------------- reference libraries

def _words(rng, n):
    vocab = ("the a an cat cats dog dogs running runs ran jumped jumping happy happiness relational conditional "
             "generalization hopeful goodness skies dying news agreed feed plastered motoring sing hopping filing "
             "electrical formalize triplicate adjustment dependent adoption communism activate effective controlling "
             "ball balls red Red RED 12 2024 3.5 x-ray it's naïve café on in of").split()
    return [rng.choice(vocab) for _ in range(n)]


def _text(rng, n):
    return "".join(w + rng.choice([" ", " ", ", ", ". ", "! ", " - ", "\n"]) for w in _words(rng, n)).strip()


def test_porter_stem_matches_nltk():
    porter = pytest.importorskip("nltk.stem.porter")
    stemmer = porter.PorterStemmer()
    rng = random.Random(0)
    stems = ("relat condit valen hesit digit conform radic differ vil analog vietnam predic oper feud decis hope "
             "call form sensit sensib triplic electr good reviv allow infer airlin gyroscop adjust defens irrit "
             "replac depend adopt homolog commun activ angular effect bowdler prob ceas controll rol hop tann fall "
             "hiss fizz fail fil happ sk enjo sp fl tr d t l agr f bl plaster mot s conflat troubl siz geo theo "
             "archaeo philo y yy by toy syzyg ivy oat tree trouble privat orrer").split()
    suffixes = ("", "s", "es", "ies", "sses", "ss", "ed", "eed", "ied", "ing", "y", "ational", "tional", "enci",
                "anci", "izer", "bli", "abli", "alli", "entli", "eli", "ousli", "ization", "ation", "ator", "alism",
                "iveness", "fulness", "ousness", "aliti", "iviti", "biliti", "fulli", "logi", "icate", "ative",
                "alize", "iciti", "ical", "ful", "ness", "al", "ance", "ence", "er", "ic", "able", "ible", "ant",
                "ement", "ment", "ent", "sion", "tion", "ion", "ou", "ism", "ate", "iti", "ous", "ive", "ize", "e",
                "ll", "ally", "ingly", "edly", "alities", "ations", "izations")
    words = [s + x for s in stems for x in suffixes]
    words += ["".join(rng.choice("aeiouybcdglmnrstwxz") for _ in range(rng.randint(1, 12))) for _ in range(20000)]
    words += "sky skies dying lying tying news innings inning outings outing cannings canning howe proceed".split()
    words += "exceed succeed is as by generously caresses ponies ties cats feed agreed bled sing".split()
    wrong = [(w, porter_stem(w), stemmer.stem(w)) for w in words if porter_stem(w) != stemmer.stem(w)]
    assert not wrong, wrong[:20]


def test_free_form_score_matches_rouge_score_as_video_r1_calls_it():
    rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    rng = random.Random(1)
    pairs = [(_text(rng, rng.randint(0, 12)), _text(rng, rng.randint(1, 12))) for _ in range(400)]
    pairs += [("zig", "zig"), ("", "a cat"), ("!!", "a cat"), ("the cat", "The cat."), ("cat", "dog")]
    for pred, truth in pairs:
        s = scorer.score(truth, pred)  # Video-R1: score(reference, hypothesis)
        expected = min(1.0, max(0.0, sum(s[k].fmeasure for k in ("rouge1", "rouge2", "rougeL")) / 3))
        assert free_form_score(pred, truth) == pytest.approx(expected, abs=1e-12), (pred, truth)
        # the full path: extraction keeps everything ROUGE reads
        extracted = extract_answer(f"<think>hm</think><answer>{pred}</answer>", "free_form")
        assert (answer_score(extracted, truth, "free_form") or 0.0) == pytest.approx(expected, abs=1e-12)
        assert rouge_l(rouge_tokens(pred), rouge_tokens(truth)) == pytest.approx(s["rougeL"].fmeasure, abs=1e-12)


def test_word_error_rate_matches_jiwer():
    jiwer = pytest.importorskip("jiwer")
    rng = random.Random(2)
    for _ in range(400):
        ref = " ".join(_words(rng, rng.randint(1, 10)))
        hyp = " ".join(_words(rng, rng.randint(1, 10)))
        assert word_error_rate(ref, hyp) == pytest.approx(jiwer.wer(ref, hyp), abs=1e-12), (ref, hyp)
        assert ocr_score(hyp, ref) == pytest.approx(min(1.0, max(0.0, 1 - jiwer.wer(ref, hyp))), abs=1e-12)


def test_mean_relative_accuracy_matches_a_torch_reference():
    torch = pytest.importorskip("torch")
    rng = random.Random(3)
    thresholds = torch.arange(0.5, 0.95 + 0.025, 0.05, dtype=torch.float32)  # 0.50, 0.55, ..., 0.95
    assert len(thresholds) == 10
    for _ in range(500):
        truth = rng.choice([rng.uniform(-100, 100), rng.uniform(0, 5), float(rng.randint(1, 30))])
        pred = truth * rng.uniform(0.3, 1.7) + rng.choice([0.0, rng.uniform(-1, 1)])
        rel = torch.tensor(abs(pred - truth) / (abs(truth) + 1e-8), dtype=torch.float32)
        if torch.isclose(rel[None], 1 - thresholds, atol=1e-6).any():
            continue  # a tie: float32 and exact thresholds may disagree there, and only there
        expected = (rel < 1 - thresholds).float().mean().item()
        assert mean_relative_accuracy(pred, truth) == pytest.approx(expected), (pred, truth)
