"""The method registry: each synthesis method registers its config dataclass and its synthesizer together.

    @register("words")
    @dataclass(frozen=True, kw_only=True)
    class WordsConfig(SynthesisConfig):
        word_pieces: float = 0.1
        '''Chance that a word continues with a "##" piece.'''

    @WordsConfig.synthesizer
    class WordTokens(Synthesizer): ...

`DistillConfig.method` names an entry, `DistillConfig.synthesis` holds an instance of its config. Torch-free.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar, TypeVar

from asdfd.core.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from asdfd.compressor.synthesis.base import SynthContext, Synthesizer

__all__ = ["SynthesisConfig", "register", "methods", "method_config", "make_synthesizer", "check"]

Cls = TypeVar("Cls", bound=type)


def check(condition: bool, message: str) -> None:
    """Raise ConfigError(`message`) unless `condition` (config validation)."""
    if not condition:
        raise ConfigError(message)


class SynthesisConfig:
    """Base of the methods' config dataclasses (frozen, kw_only); `register` fills `method` and `synthesizer_class`."""

    method: ClassVar[str] = "?"
    """The `--method` name this config belongs to."""
    synthesizer_class: ClassVar[type | None] = None

    @classmethod
    def for_budget(cls, name: str) -> SynthesisConfig:
        """This method's options under the named budget preset (`DistillConfig.for_budget`); default: the defaults."""
        return cls()

    @classmethod
    def synthesizer(cls, synthesizer_class: Cls) -> Cls:
        """Class decorator: `synthesizer_class` is what this method builds."""
        cls.synthesizer_class = synthesizer_class
        return synthesizer_class


_REGISTRY: dict[str, type[SynthesisConfig]] = {}


def register(name: str) -> Callable[[Cls], Cls]:
    """Class decorator: register a `SynthesisConfig` dataclass under the method name `name`."""

    def decorate(config_class: Cls) -> Cls:
        if not (dataclasses.is_dataclass(config_class) and issubclass(config_class, SynthesisConfig)):
            raise TypeError(f"{config_class.__name__} must be a SynthesisConfig dataclass")
        config_class.method = name
        _REGISTRY[name] = config_class
        return config_class

    return decorate


def methods() -> tuple[str, ...]:
    """The registered method names, in registration order."""
    return tuple(_REGISTRY)


def method_config(name: str) -> type[SynthesisConfig]:
    """The config class of method `name`.

    Raises:
        ConfigError: an unknown name (the message lists the known ones).
    """
    if name not in _REGISTRY:
        raise ConfigError(f"unknown method {name!r}: choose one of {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def make_synthesizer(context: SynthContext) -> Synthesizer:
    """The synthesizer of `context.config.method`, built on `context`."""
    config_class = method_config(context.config.method)
    if config_class.synthesizer_class is None:
        raise ConfigError(f"method {config_class.method!r} registered no synthesizer")
    return config_class.synthesizer_class(context)
