"""The message catalogues of the kiosk and of the staff console, one mechanism
for both: gettext catalogues, one `.po` file per language per domain (the
ecosystem's convention, and what translators' tools such as Poedit edit),
compiled to `.mo` by Babel's `pybabel compile` in scripts/setup.sh and read
here with the standard library's `gettext`, so the running kiosk needs no
Babel. The msgids are the dotted keys the code asks for ("entry.title"); each
text is a str.format template. docs/i18n.md says where the files are and how
to add a string or a language.

A compiled `.mo` is a build output (not in git): a missing one, or one older
than its `.po`, is refused with a `CatalogueError` naming the command to run,
rather than showing texts that are not the ones in the `.po`."""
from __future__ import annotations

import gettext
import logging
from pathlib import Path

log = logging.getLogger(__name__)

COMPILE_COMMAND = "scripts/setup.sh"   # runs `pybabel compile` on every domain (`make setup`, `make test` run it)


class CatalogueError(RuntimeError):
    """A compiled catalogue is missing or stale."""


class _Unknown(gettext.NullTranslations):
    """Last in each language's fallback chain. gettext hands an unknown msgid
    back as its own text; raising instead lets `Catalogue` tell an unknown key
    from a text that happens to equal it."""

    def gettext(self, message: str) -> str:
        raise KeyError(message)


class Catalogue:
    """One domain's texts in each of `languages`, loaded on first use from
    `locale_dir/<lang>/LC_MESSAGES/<domain>.mo`."""

    def __init__(self, domain: str, locale_dir: Path, languages: tuple[str, ...]) -> None:
        self.domain = domain
        self.locale_dir = locale_dir
        self.languages = languages
        self._loaded: dict[str, gettext.GNUTranslations] = {}

    def po_path(self, lang: str) -> Path:
        return self.locale_dir / lang / "LC_MESSAGES" / f"{self.domain}.po"

    def mo_path(self, lang: str) -> Path:
        return self.po_path(lang).with_suffix(".mo")

    def _translations(self, lang: str) -> gettext.GNUTranslations:
        loaded = self._loaded.get(lang)
        if loaded is None:       # two threads may both load it: the same file, no harm
            loaded = self._loaded[lang] = self._load(lang)
        return loaded

    def _load(self, lang: str) -> gettext.GNUTranslations:
        if lang not in self.languages:
            raise ValueError(f"no {lang!r} in the {self.domain} catalogue (it has {', '.join(self.languages)})")
        po, mo = self.po_path(lang), self.mo_path(lang)
        if not mo.is_file():
            raise CatalogueError(f"{mo} is missing: run {COMPILE_COMMAND} to compile the message catalogues")
        # An installed package ships the .mo alone (pyproject's package-data), so there is nothing to compare.
        if po.is_file() and po.stat().st_mtime > mo.stat().st_mtime:
            raise CatalogueError(f"{mo} is older than {po.name}: run {COMPILE_COMMAND} to compile the message "
                                 f"catalogues again")
        with mo.open("rb") as fp:
            translations = gettext.GNUTranslations(fp)
        translations.add_fallback(_Unknown())
        return translations

    def __contains__(self, key: object) -> bool:
        """Whether `key` has a text. Asked of the first language: a test holds
        every language to the same keys."""
        if not isinstance(key, str) or not key:     # msgid "" is the .mo's header, not a text
            return False
        try:
            self._translations(self.languages[0]).gettext(key)
        except KeyError:
            return False
        return True

    def text(self, key: str, lang: str, /, **fields: object) -> str:
        """The text for `key` in `lang`, with `fields` filled in. An unknown key
        is logged as an error and shows itself rather than breaking a screen or
        a page; the tests fail on both (tests/test_i18n.py, tests/console)."""
        try:
            if not key:
                raise KeyError(key)
            text = self._translations(lang).gettext(key)
        except KeyError:
            log.error("i18n: no %s catalogue entry %r", self.domain, key)
            return key
        return text.format(**fields) if fields else text
