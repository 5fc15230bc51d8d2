"""WordNet 3.0 for nltk's METEOR, built offline from Debian's ``wordnet-base`` and ``wordnet-sense-index``
packages.

nltk cannot download its corpora here, so ``flexaqa vqa setup-wordnet`` copies the WordNet database files into
``<dir>/corpora/wordnet/`` and writes the ``lexnames`` file that nltk's reader wants and Debian lacks.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from flexaqa.errors import EXIT_MISSING_EXTRA, require
from flexaqa.vqa._records import VQAError

DEBIAN_WORDNET = Path("/usr/share/wordnet")
# The files nltk's WordNetCorpusReader opens; index.sense (package wordnet-sense-index) is read at load time.
WORDNET_FILES = (
    "index.sense",
    "adj.exc",
    "adv.exc",
    "noun.exc",
    "verb.exc",
    "cntlist.rev",
    "data.adj",
    "data.adv",
    "data.noun",
    "data.verb",
    "index.adj",
    "index.adv",
    "index.noun",
    "index.verb",
)
OPTIONAL_FILES = ("sentidx.vrb", "sents.vrb")

# WordNet 3.0's 45 lexicographer files, numbered 00-44 (the ``lexnames(5WN)`` manual page).
LEXNAMES = (
    "adj.all",
    "adj.pert",
    "adv.all",
    "noun.Tops",
    "noun.act",
    "noun.animal",
    "noun.artifact",
    "noun.attribute",
    "noun.body",
    "noun.cognition",
    "noun.communication",
    "noun.event",
    "noun.feeling",
    "noun.food",
    "noun.group",
    "noun.location",
    "noun.motive",
    "noun.object",
    "noun.person",
    "noun.phenomenon",
    "noun.plant",
    "noun.possession",
    "noun.process",
    "noun.quantity",
    "noun.relation",
    "noun.shape",
    "noun.state",
    "noun.substance",
    "noun.time",
    "verb.body",
    "verb.change",
    "verb.cognition",
    "verb.communication",
    "verb.competition",
    "verb.consumption",
    "verb.contact",
    "verb.creation",
    "verb.emotion",
    "verb.motion",
    "verb.perception",
    "verb.possession",
    "verb.social",
    "verb.stative",
    "verb.weather",
    "adj.ppl",
)
_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}

INSTALL_HINT = (
    "METEOR needs the WordNet 3.0 corpus for nltk. Install it with `apt-get install -y wordnet-base wordnet-sense-index` "
    "(Debian/Ubuntu) and run `flexaqa vqa setup-wordnet`, or point NLTK_DATA at a folder holding "
    "corpora/wordnet/."
)


class WordNetMissingError(VQAError):
    """nltk's WordNet corpus is not installed (exit code 8, like a missing optional dependency)."""

    exit_code = EXIT_MISSING_EXTRA


def default_nltk_dir() -> Path:
    """Where ``setup-wordnet`` puts the corpus: ``$FLEXAQA_NLTK_DATA`` or ``~/.cache/flexaqa/nltk_data``."""
    env = os.environ.get("FLEXAQA_NLTK_DATA")
    return Path(env) if env else Path.home() / ".cache" / "flexaqa" / "nltk_data"


def lexnames_text() -> str:
    """The ``lexnames`` file: ``NN<TAB>name<TAB>category`` per line."""
    return "".join(f"{i:02d}\t{name}\t{_CATEGORY[name.split('.')[0]]}\n" for i, name in enumerate(LEXNAMES))


def setup_wordnet(
    dest: str | Path | None = None, *, source: str | Path = DEBIAN_WORDNET, replace: bool = True
) -> Path:
    """Build ``<dest>/corpora/wordnet/`` from a WordNet 3.0 database folder; returns ``dest``.

    Idempotent: an existing corpus is replaced atomically, or kept when ``replace`` is False (so concurrent
    first uses, e.g. test workers, never disturb one another).
    """
    dest = Path(dest) if dest is not None else default_nltk_dir()
    source = Path(source)
    missing = [f for f in WORDNET_FILES if not (source / f).is_file()]
    if missing:
        raise WordNetMissingError(
            f"{source}: not a WordNet 3.0 database folder (missing {', '.join(missing[:4])}"
            f"{'...' if len(missing) > 4 else ''}). Install it with `apt-get install -y wordnet-base wordnet-sense-index`."
        )
    corpora = dest / "corpora"
    corpora.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".wordnet.", dir=corpora))
    try:
        for f in WORDNET_FILES + OPTIONAL_FILES:
            if (source / f).is_file():
                shutil.copyfile(source / f, tmp / f)
        (tmp / "lexnames").write_text(lexnames_text(), encoding="utf-8")
        final = corpora / "wordnet"
        if final.exists() and not replace:
            shutil.rmtree(tmp, ignore_errors=True)
        elif final.exists():
            old = corpora / f".wordnet.old.{os.getpid()}"
            final.rename(old)
            tmp.rename(final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            try:
                tmp.rename(final)
            except OSError:  # another process created it meanwhile
                if replace or not final.is_dir():
                    raise
                shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def load_wordnet():
    """nltk's WordNet reader, looking in nltk's usual places and in :func:`default_nltk_dir`.

    When the corpus is nowhere but Debian's WordNet database is installed, it is set up in
    :func:`default_nltk_dir` first (what ``flexaqa vqa setup-wordnet`` does). Raises
    :class:`WordNetMissingError` naming the fix when neither is there.
    """
    nltk = require("nltk", "text", "METEOR")
    extra = str(default_nltk_dir())
    if extra not in nltk.data.path:
        nltk.data.path.append(extra)
    try:
        nltk.data.find("corpora/wordnet")
    except LookupError:
        if not all((DEBIAN_WORDNET / f).is_file() for f in WORDNET_FILES):
            raise WordNetMissingError(INSTALL_HINT) from None
        print(f"flexaqa: setting up WordNet for METEOR in {extra} (from {DEBIAN_WORDNET})", file=sys.stderr)
        setup_wordnet(extra, replace=False)
        nltk.data.find("corpora/wordnet")
    from nltk.corpus import wordnet

    try:
        wordnet.ensure_loaded()
    except (LookupError, OSError) as exc:
        raise WordNetMissingError(
            f"the WordNet corpus found by nltk is incomplete ({exc}). {INSTALL_HINT}"
        ) from None
    return wordnet
