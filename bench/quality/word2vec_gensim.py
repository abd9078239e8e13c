#!/usr/bin/env python3
"""The reference side of bench/quality/word2vec.sh: gensim's Word2Vec (Debian's python3-gensim)
trained on the same corpus with the same settings, its analogy accuracy by gensim's own evaluator,
its training speed, and its vectors saved in word2vec's binary format so that our evaluator can
score them too.

  word2vec_gensim.py CORPUS QUESTIONS|- OUT.bin [--cbow] [--threads N] [--iter N] [--alpha X]
                     [--min-alpha X] [--size N] [--window N] [--negative N] [--sample X]
                     [--min-count N]

Prints one line of key=value pairs (accuracy=- without questions). The corpus is read as an
iterable of lines (LineSentence), the mode in which gensim decays the learning rate linearly from
alpha to min_alpha over all epochs whatever the number of workers (its corpus_file mode with 2
workers only reaches halfway).
"""
import argparse
import logging
import time

from gensim.models import Word2Vec
from gensim.models.word2vec import LineSentence


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus")
    ap.add_argument("questions")
    ap.add_argument("out")
    ap.add_argument("--cbow", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--iter", type=int, default=5)
    ap.add_argument("--alpha", type=float, default=None)
    ap.add_argument("--min-alpha", type=float, default=0.0001)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--window", type=int, default=5)
    ap.add_argument("--negative", type=int, default=5)
    ap.add_argument("--sample", type=float, default=1e-3)
    ap.add_argument("--min-count", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--log", action="store_true", help="gensim's own progress log on stderr")
    a = ap.parse_args()
    if a.log:
        logging.basicConfig(format="%(asctime)s %(message)s", level=logging.INFO)
    alpha = a.alpha if a.alpha is not None else (0.05 if a.cbow else 0.025)

    sentences = LineSentence(a.corpus)
    model = Word2Vec(vector_size=a.size, window=a.window, min_count=a.min_count, sample=a.sample,
                     negative=a.negative, hs=0, sg=0 if a.cbow else 1, cbow_mean=1,
                     alpha=alpha, min_alpha=a.min_alpha, workers=a.threads, epochs=a.iter,
                     seed=a.seed)
    model.build_vocab(sentences)
    # Words of the corpus in the vocabulary, per epoch: the count our side reports words/s in.
    vocab_words = sum(model.wv.get_vecattr(w, "count") for w in model.wv.index_to_key)
    start, cpu_start = time.perf_counter(), time.process_time()
    model.train(sentences, total_examples=model.corpus_count, epochs=model.epochs)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start

    accuracy, answered = "-", "-"
    if a.questions != "-":
        score, sections = model.wv.evaluate_word_analogies(a.questions, restrict_vocab=30000,
                                                           case_insensitive=True)
        total = next(s for s in sections if s["section"] == "Total accuracy")
        answered = len(total["correct"]) + len(total["incorrect"])
        accuracy = f"{100 * score:.2f}"
    model.wv.save_word2vec_format(a.out, binary=True)
    print(f"gensim {'cbow' if a.cbow else 'sg'} threads={a.threads} iter={a.iter} "
          f"alpha={alpha} vocab={len(model.wv)} words={vocab_words * a.iter} "
          f"seconds={seconds:.2f} words_per_s={vocab_words * a.iter / seconds:.0f} "
          f"cpu_seconds={cpu:.2f} words_per_cpu_s={vocab_words * a.iter / cpu:.0f} "
          f"accuracy={accuracy} answered={answered}")


if __name__ == "__main__":
    main()
