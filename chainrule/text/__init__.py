"""Language-model pieces: vocabularies, corpora, n-gram models, perplexity, decoding.

    from chainrule.text import CharVocab, load_corpus, NGramLM, perplexity
    splits = load_corpus()                      # stdlib docstrings, no download
    vocab = CharVocab.from_text(splits.train)
    lm = NGramLM(3, len(vocab), k=0.1).fit(vocab.encode(splits.train))
    perplexity(lm, vocab.encode(splits.test))
"""

from chainrule.text.corpus import STDLIB_MODULES, TextSplits, load_corpus, load_text, split_documents, stdlib_docstrings
from chainrule.text.ngram import InterpolatedNGramLM, NGramLM, best_add_k
from chainrule.text.perplexity import LanguageModel, cross_entropy, perplexity, perplexity_table
from chainrule.text.sampling import (
    apply_temperature,
    beam_search,
    generate_greedy,
    greedy_decode,
    lm_step,
    sample,
)
from chainrule.text.vocab import EOS, UNK, CharVocab, Vocab, WordVocab, tokenize_words

__all__ = [
    "EOS",
    "STDLIB_MODULES",
    "UNK",
    "CharVocab",
    "InterpolatedNGramLM",
    "LanguageModel",
    "NGramLM",
    "TextSplits",
    "Vocab",
    "WordVocab",
    "apply_temperature",
    "beam_search",
    "best_add_k",
    "cross_entropy",
    "generate_greedy",
    "greedy_decode",
    "lm_step",
    "load_corpus",
    "load_text",
    "perplexity",
    "perplexity_table",
    "sample",
    "split_documents",
    "stdlib_docstrings",
    "tokenize_words",
]
