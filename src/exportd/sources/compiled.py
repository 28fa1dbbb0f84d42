"""SELECTs compiled for a driver outside SQLAlchemy (ADBC, COPY, connectorx): the text
and each parameter's value as the driver takes it, each shape compiled once.

SQLAlchemy keeps what it compiles for its own ``execute()``, not for ``compile()``: a
10-row export on SQLite compiled three or four SELECTs of the same shapes every time,
some 40% of its read.  A statement's cache key (its shape without its values) finds
the compiled text here; the values are always the statement's own.  Shapes whose text
holds values (an expanded IN list, a literal LIMIT) are compiled every time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import Compiled
from sqlalchemy.sql.elements import ClauseElement

SHAPES_KEPT = 256
_POSTCOMPILE = {"render_postcompile": True}


@dataclass(frozen=True, slots=True)
class CompiledSelect:
    sql: str
    names: list[str]  # the parameters in the order of the text's placeholders
    values: dict[str, Any]  # each bind processor applied

    def params(self, *replaced: Mapping[str, Any]) -> list[Any]:
        """The values in placeholder order, some replaced (a range's bound, say)."""
        values = self.values.copy()
        for more in replaced:
            values.update(more)
        return [values[name] for name in self.names]


@dataclass(frozen=True, slots=True)
class _Shape:
    compiled: Compiled
    processors: dict[str, Callable[[Any], Any] | None]


_shapes: OrderedDict[tuple[Any, ...], _Shape] = OrderedDict()
_lock = threading.Lock()


def compile_select(query: ClauseElement, dialect: Dialect) -> CompiledSelect:
    key = query._generate_cache_key()
    if key is None or any(b.expanding or b.literal_execute for b in key.bindparams):
        once = _compiled(query, dialect, None)
        return _filled(once, once.compiled.construct_params())
    slot = (dialect.name, dialect.driver, dialect.paramstyle, key.key)
    with _lock:
        kept = _shapes.get(slot)
        if kept is not None:
            _shapes.move_to_end(slot)
    shape = kept if kept is not None else _compiled(query, dialect, key)
    if kept is None:
        with _lock:
            _shapes[slot] = shape
            while len(_shapes) > SHAPES_KEPT:
                _shapes.popitem(last=False)
    # This statement's values, matched to the cached compile's parameters by position.
    return _filled(shape, shape.compiled.construct_params(extracted_parameters=key.bindparams))


def _compiled(query: ClauseElement, dialect: Dialect, key: Any) -> _Shape:
    compiled = query.compile(dialect=dialect, cache_key=key, compile_kwargs=_POSTCOMPILE)
    binds = compiled.binds  # type: ignore[attr-defined]
    processors = {}
    for name in compiled.construct_params() or {}:
        # An expanded IN parameter (``tag_1_2``) is processed as its template (``tag_1``).
        bind = binds[name] if name in binds else binds[name.rsplit("_", 1)[0]]
        processors[name] = bind.type.dialect_impl(dialect).bind_processor(dialect)
    return _Shape(compiled, processors)


def _filled(shape: _Shape, params: Mapping[str, Any] | None) -> CompiledSelect:
    values = {}
    for name, value in (params or {}).items():
        processor = shape.processors[name]
        values[name] = processor(value) if processor else value
    compiled = shape.compiled
    names = list(compiled.positiontup or ()) or list(values)  # type: ignore[attr-defined]
    return CompiledSelect(str(compiled), names, values)
