"""Reviewed allowlist packs: library classes and functions that real pickles import, one pack per library.

Owns the entries :mod:`modelguard.scan.pickle.allowlist` consults after its own tables, and the
reasoning that admitted each one. The test for an entry is what unpickling can make it do:

* a **class** is reached by ``copyreg._reconstructor(cls, object, None)`` or NEWOBJ
  (``cls.__new__(cls)``) and then BUILD, which calls ``__setstate__`` if the class (or a parent)
  defines one and otherwise updates ``__dict__``. An entry is admitted only when ``__new__``,
  ``__setstate__``, ``__reduce__``/``__reduce_ex__`` and ``__setattr__`` run nothing the pickle
  controls (the review names each one that exists);
* a pickle can also *call* an import with arguments it chooses (REDUCE, INST, OBJ), which for a
  class runs ``__init__``. Where ``__init__`` can open files, connect out or start processes
  (gensim's ``corpus_file``, ``distributed=True``, ``serialized=True``), the class is admitted
  **for reconstruction only** (``rebuild_only``): the analyser reports any call of it with
  arguments (:data:`REBUILD_ONLY`, used by :mod:`modelguard.scan.pickle.vm`);
* a **function** is admitted only when any arguments make it compute and return (a hash, a
  scoring formula, an ``AttributeError``).

A pack is enabled by default when every entry passes (``default=True``); otherwise its entries
are listed for a policy to add one by one (``[[policy.safe-globals]]``). Names that a current
release no longer defines stay listed: importing them fails, which runs nothing.

Pure data; never imports the libraries it names.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    module: str
    names: tuple[str, ...]
    why: str
    """what the review found: which special methods exist and what they do"""
    rebuild_only: bool = False
    """admitted for copyreg/NEWOBJ reconstruction; a call with arguments (``__init__``) is a finding"""


@dataclass(frozen=True)
class Pack:
    name: str
    reviewed: str
    """library versions whose source was read"""
    default: bool
    entries: tuple[Entry, ...]


def _e(module: str, names: str, why: str, *, rebuild_only: bool = False) -> Entry:
    return Entry(module, tuple(names.split()), why, rebuild_only)


_NO_SPECIALS = ("no __new__, __setstate__, __reduce__ or __setattr__ in the class or its parents (SaveLoad, "
                "TransformationABC, BaseTopicModel, collections.abc.Mapping): BUILD only updates __dict__")
_INIT_IO = "__init__ can read corpus_file, connect to Pyro (distributed) or write serialization_path"

GENSIM = Pack("gensim", "gensim 3.8.3 and 4.4.0", True, (
    _e("gensim.models.word2vec", "Word2Vec Word2VecVocab Word2VecTrainables Vocab",
       f"{_NO_SPECIALS}; {_INIT_IO}", rebuild_only=True),
    _e("gensim.models.doc2vec", "Doc2Vec Doc2VecVocab Doc2VecTrainables Doctag DocvecsArray TaggedDocument",
       f"{_NO_SPECIALS}; Doctag/TaggedDocument are namedtuples or plain records; {_INIT_IO}", rebuild_only=True),
    _e("gensim.models.fasttext", "FastText FastTextVocab FastTextTrainables FastTextKeyedVectors",
       f"{_NO_SPECIALS}; {_INIT_IO}", rebuild_only=True),
    _e("gensim.models.keyedvectors",
       "KeyedVectors Word2VecKeyedVectors Doc2VecKeyedVectors FastTextKeyedVectors EuclideanKeyedVectors "
       "BaseKeyedVectors WordEmbeddingsKeyedVectors Vocab CompatVocab",
       f"{_NO_SPECIALS}; Vocab(**kw) only updates __dict__", rebuild_only=True),
    _e("gensim.models.wrappers.fasttext", "FastText FastTextKeyedVectors",
       f"{_NO_SPECIALS} (gensim 3.x wrapper; its classmethod train() runs the fastText binary, which "
       "unpickling never calls)", rebuild_only=True),
    _e("gensim.models.ldamodel", "LdaModel LdaState", f"{_NO_SPECIALS}; {_INIT_IO}", rebuild_only=True),
    _e("gensim.models.ldamulticore", "LdaMulticore", f"{_NO_SPECIALS}; __init__ starts worker processes",
       rebuild_only=True),
    _e("gensim.models.atmodel", "AuthorTopicModel AuthorTopicState", f"{_NO_SPECIALS}; {_INIT_IO}",
       rebuild_only=True),
    _e("gensim.models.ldaseqmodel", "LdaSeqModel sslm LdaPost", f"{_NO_SPECIALS}; __init__ trains models",
       rebuild_only=True),
    _e("gensim.models.ensemblelda", "EnsembleLda Topic Cluster CBDBSCAN",
       f"{_NO_SPECIALS}; EnsembleLda.__init__ starts processes and instantiates topic_model_class",
       rebuild_only=True),
    _e("gensim.models.nmf", "Nmf", f"{_NO_SPECIALS}; __init__ trains", rebuild_only=True),
    _e("gensim.models.lsimodel", "LsiModel Projection", f"{_NO_SPECIALS}; LsiModel.__init__ can be distributed",
       rebuild_only=True),
    _e("gensim.models.hdpmodel", "HdpModel SuffStats", f"{_NO_SPECIALS}; __init__ trains", rebuild_only=True),
    _e("gensim.models.rpmodel", "RpModel",
       "__setstate__ assigns the state dict to __dict__ and sets freshly_loaded = True; nothing else",
       rebuild_only=True),
    _e("gensim.models.phrases", "Phrases Phraser FrozenPhrases",
       f"{_NO_SPECIALS}; __init__ iterates the sentences it is given and calls a scoring callable",
       rebuild_only=True),
    _e("gensim.models.tfidfmodel", "TfidfModel",
       f"{_NO_SPECIALS}; __init__ calls the wlocal/wglobal/normalize callables it is given", rebuild_only=True),
    _e("gensim.models.poincare", "PoincareModel PoincareKeyedVectors NegativesBuffer",
       f"{_NO_SPECIALS}; PoincareModel.__init__ trains", rebuild_only=True),
    _e("gensim.corpora.dictionary", "Dictionary", f"{_NO_SPECIALS}; __init__ iterates documents",
       rebuild_only=True),
    # Functions stored as attributes (Word2Vec.hashfxn, Phrases.scoring, TfidfModel.wlocal, ...).
    _e("builtins", "hash", "Word2Vec.hashfxn: hash() of a value the pickle built from admitted types returns an int"),
    _e("__builtin__", "hash", "Python 2 name of builtins.hash (gensim 0.x/1.x pickles)"),
    _e("gensim.utils", "call_on_class_only identity",
       "call_on_class_only raises AttributeError whatever it is given; identity returns its argument"),
    _e("gensim.models.phrases", "original_scorer npmi_scorer", "arithmetic on the counts it is given"),
    _e("gensim.models.tfidfmodel", "df2idf smartirs_wlocal smartirs_wglobal smartirs_normalize",
       "numpy arithmetic on the arrays it is given (the SMART weighting letters select a formula)"),
    _e("gensim.models.ensemblelda", "mass_masking rank_masking", "numpy sorting and masking of an array"),
))

PYANNOTE = Pack("pyannote", "pyannote.audio 2.1 (as in whisperx assets) and 4.0.7", True, (
    _e("pyannote.audio.core.model", "Introspection Output",
       "Introspection is an empty class kept for old checkpoints (2.x: __init__ stores numbers); Output is a "
       "dataclass; no special methods"),
    _e("pyannote.audio.core.task", "Problem Resolution Specifications",
       "Problem/Resolution are Enums (calling one looks a member up); Specifications is a dataclass whose "
       "__init__ stores fields; cached properties compute on access, never on load"),
))

NUMPY_LEGACY = Pack("numpy-legacy", "numpy 1.26 and 2.4", True, (
    _e("numpy.core._internal", "_reconstruct",
       "ndarray.__new__(subtype, shape, dtype) for pickles written by NumPy before 1.0; the same call as "
       "numpy.core.multiarray._reconstruct, whose subtype argument the analyser requires to be an import"),
    _e("numpy.core.records", "recarray record",
       "record arrays (np.rec / np.savez of structured results): recarray is an ndarray subclass rebuilt by "
       "_reconstruct and ndarray's C __setstate__; its __array_finalize__ and __new__ only set the dtype view; "
       "record is a numpy.void scalar subclass"),
    _e("numpy._core.records", "recarray record", "the same classes under NumPy 2's module name"),
    _e("numpy", "recarray record", "the same classes as exported at the top level"),
))

SKLEARN_BUNCH = Pack("sklearn-bunch", "scikit-learn 0.16 to 1.9", True, (
    _e("sklearn.utils", "Bunch", "dict subclass; __setstate__ ignores its argument (pickles from 0.16)"),
    _e("sklearn.utils._bunch", "Bunch", "as sklearn.utils.Bunch (its home since 1.2)"),
    _e("sklearn.datasets.base", "Bunch", "old home of the same class (scikit-learn < 0.22)"),
    _e("sklearn.datasets._base", "Bunch", "old home of the same class (0.22 to 1.1)"),
))

MORFESSOR = Pack("morfessor", "Morfessor 2.0.6", True, (
    _e("morfessor.baseline",
       "BaselineModel ConstrNode Encoding CorpusEncoding LexiconEncoding AnnotatedCorpusEncoding CorpusWeight "
       "FixedCorpusWeight AnnotationCorpusWeight MorphLengthCorpusWeight NumMorphCorpusWeight",
       "plain classes (ConstrNode a namedtuple) with no special methods; every __init__ stores its arguments, "
       "builds counters or compiles the nosplit regular expression: no I/O (gensim's VarEmbed keeps one)"),
))

PYTABLES = Pack("pytables", "PyTables 3.11.1 (tables/filters.py, tables/attributeset.py)", True, (
    _e("tables.filters", "Filters",
       "plain class: no __new__, __setstate__, __reduce__ or __setattr__; __init__ range-checks complevel, "
       "checks complib against the fixed list of compressor names before asking the HDF5 extension for that "
       "library's version string, and stores six numbers and flags; nothing else (FILTERS attribute of nodes "
       "written by PyTables 1.x and 2.x)"),
    _e("tables.Leaf", "Filters",
       "the same class as PyTables 1.x named it: AttributeSet rewrites 'tables.Leaf' to 'tables.filters' in a "
       "FILTERS pickle of a file older than format 2.0 before unpickling it; no module tables.Leaf exists, so any "
       "other reader's import fails and runs nothing"),
))

_M21_PLAIN = ("no __new__, __setstate__, __reduce__ or __setattr__ in the class or its parents (ProtoM21Object "
              "has empty __slots__ only): BUILD only updates __dict__")
_M21_INIT = "rebuilt by NEWOBJ in music21's pickles; __init__ is not reviewed for arbitrary arguments"

MUSIC21 = Pack("music21", "music21 10.5.1 (metadata/, base.py, sites.py, common/objects.py)", True, (
    _e("music21.metadata.bundles", "MetadataBundle MetadataEntry",
       f"{_M21_PLAIN}; MetadataEntry.__getnewargs__ runs when pickling, never when loading; MetadataBundle.__init__ "
       f"imports music21.corpus; {_M21_INIT} (the corpus metadata cache, corpus/_metadataCache/*.p.gz)",
       rebuild_only=True),
    _e("music21.metadata", "Metadata RichMetadata",
       "Music21Object.__setstate__ installs the state dict with object.__setattr__(self, '__dict__', state), "
       f"bypassing Metadata.__setattr__ (which only files values into its own namespaces); {_M21_INIT}",
       rebuild_only=True),
    _e("music21.metadata", "AmbitusShort", "a typing.NamedTuple of four values; tuple.__new__ only",
       rebuild_only=True),
    _e("music21.metadata.primitives",
       "Text Copyright Contributor Creator Imprint Date DatePrimitive DateSingle DateRelative DateBetween "
       "DateSelection",
       f"{_M21_PLAIN}; their __init__ store strings and parse dates (Date.load: string and datetime parsing); "
       f"{_M21_INIT}", rebuild_only=True),
    _e("music21.base", "Groups",
       "list subclass with empty __slots__; append and __setitem__ only check that the value is a str without "
       "spaces before list.append / list.__setitem__; APPENDS uses list.extend", rebuild_only=True),
    _e("music21.sites", "Sites SiteRef",
       "SlottedObjectMixin.__setstate__ setattr()s each state key: only the __slots__ (no __dict__) and the "
       "SiteRef.site property, whose setter wraps the value in a weakref; SiteRef.__setstate__ then pops its key "
       "from music21's own GLOBAL_SITE_STATE_DICT; nothing else", rebuild_only=True),
))

NLTK = Pack("nltk", "NLTK 3.10.4 (tag/perceptron.py, tag/api.py, tokenize/punkt.py, tokenize/api.py)", True, (
    _e("nltk.tag.perceptron", "PerceptronTagger",
       "no __new__, __setstate__, __reduce__ or __setattr__ (TaggerI is an ABC with none): BUILD only updates "
       "__dict__; __init__(load=True) reads the model from nltk_data, so calls are findings", rebuild_only=True),
    _e("nltk.tag.perceptron", "AveragedPerceptron",
       "plain class; __init__ stores the weights dict it is given and empty counters", rebuild_only=True),
    _e("nltk.tokenize.punkt", "PunktSentenceTokenizer PunktParameters PunktToken PunktLanguageVars",
       "the Punkt pickles of nltk_data: no __new__, __reduce__ or __setattr__; PunktLanguageVars.__setstate__ "
       "returns 1 and ignores its state; PunktToken has __slots__ only; PunktSentenceTokenizer.__init__ trains on "
       "text it is given (PunktTokenizer, which reads nltk_data, is not admitted)", rebuild_only=True),
))

OBSPY = Pack("obspy", "ObsPy 1.5.1 (core/utcdatetime.py)", True, (
    _e("obspy.core.utcdatetime", "UTCDateTime",
       "__slots__ class; __setstate__ takes a (ns, precision) tuple or a dict, converts both with int() and "
       "stores them in its slots, raising on anything else; __init__ parses date strings and numbers "
       "(rebuild-only all the same: ObsPy pickles never call it)", rebuild_only=True),
))

PACKS: tuple[Pack, ...] = (GENSIM, PYANNOTE, NUMPY_LEGACY, SKLEARN_BUNCH, MORFESSOR, PYTABLES, MUSIC21, NLTK, OBSPY)


def _pairs(packs: tuple[Pack, ...], *, rebuild_only: bool | None = None) -> frozenset[tuple[str, str]]:
    return frozenset((e.module, n) for p in packs for e in p.entries for n in e.names
                     if rebuild_only is None or e.rebuild_only == rebuild_only)


DEFAULT_GLOBALS: frozenset[tuple[str, str]] = _pairs(tuple(p for p in PACKS if p.default))
"""(module, name) pairs every scan admits"""
REBUILD_ONLY: frozenset[tuple[str, str]] = _pairs(PACKS, rebuild_only=True)
"""classes admitted for reconstruction only: calling one with arguments is a finding"""


def review(module: str, name: str) -> str:
    """The review note of a pack entry ('' when no pack lists it)."""
    for p in PACKS:
        for e in p.entries:
            if e.module == module and name in e.names:
                return f"{p.name} ({p.reviewed}): {e.why}"
    return ""
