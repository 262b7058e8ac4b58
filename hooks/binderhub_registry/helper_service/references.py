"""Image names and tags as the distribution reference grammar defines them
(github.com/distribution/reference, ``reference.go``): a name is path components of lowercase
letters and digits joined by ``.``, ``_``, ``__`` or dashes, separated by ``/``, 255 characters at
most; a tag is a word character followed by up to 127 word characters, dots and dashes. Whatever
else arrives (a trailing slash, ``..``, ``?``, ``%00``, CR or LF, percent-decoded or not) is
refused before anything is asked upstream."""

from __future__ import annotations

import re

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
NAME = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*", re.ASCII)
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", re.ASCII)
MAX_NAME_LENGTH = 255


class InvalidReference(ValueError):
    """``str(error)`` is a sentence safe to return (it never repeats what was sent)."""


def image_name(text: str) -> str:
    if len(text) > MAX_NAME_LENGTH or not NAME.fullmatch(text):
        raise InvalidReference(
            "The image name is not a valid repository name (lowercase path components of letters and digits "
            "joined by '.', '_' or '-', separated by single '/', at most 255 characters)."
        )
    return text


def name_and_tag(text: str) -> tuple[str, str]:
    name, sep, tag = text.rpartition(":")
    if not sep:
        raise InvalidReference("Send NAME:TAG (the tag is missing).")
    if not TAG.fullmatch(tag):
        raise InvalidReference("The tag is not a valid tag (a letter, digit or '_' and up to 127 of those, '.' or '-').")
    return image_name(name), tag
