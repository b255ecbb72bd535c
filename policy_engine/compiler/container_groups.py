"""Containers grouped by what one condition reads of them (issue #13: 20,000 containers decided quickly).

A quantifier over ``containers`` whose body reads its variable only as ``c.<field>`` of
``objects.CLASS_FIELDS`` (``by_class``) has one value for all the containers that agree on the
fields it reads. ``reads`` lists those at compile time, as slots: ``c.type``, ``c.registry`` (read from the
image), ``c.requests.cpu`` — or only whether ``c.requests.cpu`` is null, when the body does nothing else
with it —, ``c.limits`` as a whole. At run time a slot is a column (one hashable value per container,
computed once per workload and shared by every condition); the body is evaluated once per distinct row of
its columns, on a record holding just the fields it reads, built from the first container of the row with
the quantities the workload model already parsed. So ``c.type == "ephemeral" or c.limits.memory != null``
over 20,000 containers that all request a different CPU is decided once, not 20,000 times.

A pod of a few containers (most pods) is decided per container on the full records, as before.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import field
from decimal import Decimal
from itertools import repeat
from typing import Any

from policy_engine.compiler import objects
from policy_engine.compiler.attributes import container_classes, per_workload
from policy_engine.compiler.functions import FUNCTIONS
from policy_engine.compiler.walk import children
from policy_engine.model.workload import Workload
from policy_engine.quantity import Quantity
from policy_engine.records import frozen_record, record
from policy_engine.syntax import ast
from policy_engine.syntax.unparse import unparse

#: (field, resource, only whether it is null): ``("type", None, False)``, ``("requests", "cpu", True)``;
#: a resource of None is the whole ``requests`` (or ``limits``) record.
Slot = tuple[str, str | None, bool]
Closure = Callable[[Any], Any]

_RESOURCE_FIELDS = ("requests", "limits")
_IMAGE_FIELDS = frozenset({"image", "registry", "repository", "tag", "digest"})
_FLAG_KEYS = dict((f, k) for k, f in objects.FLAGS)
#: A pod of fewer containers is decided container by container on full records (``container_classes``):
#: building columns costs more than it saves.
_COLUMNS_FROM = 8


def by_class(e: ast.Quantifier) -> bool:
    """Whether ``e`` is a quantifier over ``containers`` (outside any other) whose body reads its variable
    only as ``c.<field>`` with fields that every container of a class shares (``objects.CLASS_FIELDS``):
    such a body has one value per class, so it is evaluated once per class rather than per container."""
    if not (isinstance(e.collection, ast.Name) and e.collection.id == "containers" and len(e.names) == 1):
        return False
    variable = e.names[0].name

    def only_shared_fields(x: ast.Expr) -> bool:
        if isinstance(x, ast.Field) and isinstance(x.target, ast.Name) and x.target.id == variable:
            return x.name.name in objects.CLASS_FIELDS
        if isinstance(x, ast.Name):
            return x.id != variable
        if isinstance(x, ast.Quantifier) and any(n.name == variable for n in x.names):
            return False  # the name rebound inside: not worth telling apart
        return all(only_shared_fields(c) for c in children(x))

    return only_shared_fields(e.body)


def reads(body: ast.Expr, variable: str) -> frozenset[Slot]:
    """The slots ``body`` reads of ``variable`` (a body ``by_class`` accepted: only ``c.<field>`` reads)."""
    slots: set[Slot] = set()

    def visit(x: ast.Expr, parents: tuple[ast.Expr, ...]) -> None:
        if isinstance(x, ast.Field) and isinstance(x.target, ast.Name) and x.target.id == variable:
            name = x.name.name
            resource = _resource(parents[-1] if parents else None, x) if name in _RESOURCE_FIELDS else None
            if resource is None:
                slots.add((name, None, False))
            else:
                slots.add((name, resource, _null_test(parents[-2] if len(parents) > 1 else None, parents[-1])))
            return
        for child in children(x):
            visit(child, (*parents, x))

    visit(body, ())
    # a resource read both ways is read by value; a whole record read makes its resources' slots moot
    for slot in list(slots):
        f, resource, presence = slot
        if (presence and (f, resource, False) in slots) or (resource is not None and (f, None, False) in slots):
            slots.discard(slot)
    return frozenset(slots)


def _resource(parent: ast.Expr | None, x: ast.Field) -> str | None:
    """The resource ``parent`` reads of ``c.requests`` (``x``): ``.cpu`` or ``["nvidia.com/gpu"]``."""
    if isinstance(parent, ast.Field) and parent.target is x:
        return parent.name.name
    if isinstance(parent, ast.Index) and parent.target is x and isinstance(parent.index, ast.Literal) \
            and type(parent.index.value) is str:
        return parent.index.value
    return None


def _null_test(test: ast.Expr | None, read: ast.Expr) -> bool:
    """Whether ``test`` compares ``read`` with null (``== null``, ``!= null``): only its nullness counts."""
    if not isinstance(test, ast.Compare) or test.op not in ("==", "!="):
        return False
    other = test.right if test.left is read else test.left if test.right is read else None
    return isinstance(other, ast.Literal) and other.value is None


@frozen_record
class Column:
    """One slot's value for each container, and the distinct values."""

    values: list[Any]
    distinct: set[Any]

    @staticmethod
    def of(values: list[Any]) -> Column:
        return Column(values, set(values))


#: Up to this many distinct values, the first container of each is found by ``list.index`` (a scan that
#: stops early) rather than by a dictionary of every container.
_FEW = 32


@record
class ContainerTable:
    """A workload's containers as rows, in ``containers`` order; columns are computed on demand and kept.

    ``requests``/``limits`` are the amounts the workload model read (strings, keyed by resource name);
    ``_NOT_READ`` for an ephemeral container, which the model does not read: its record is built as written."""

    raws: list[dict[str, Any]]
    types: list[str]
    roles: list[str]
    requests: list[dict[str, str]]
    limits: list[dict[str, str]]
    parsed: dict[str, Decimal]  # the quantity strings the model parsed, and their values
    ephemeral: list[int]  # the rows of ephemeral containers
    columns: dict[Slot, Column] = field(default_factory=dict)
    grouped: dict[tuple[Slot, ...], tuple[list[Any], dict[Any, int]]] = field(default_factory=dict)
    amounts: dict[str, Any] = field(default_factory=dict)  # quantity string → its Quantity (None: not one)

    def column(self, slot: Slot) -> Column:
        found = self.columns.get(slot)
        if found is None:
            found = self.columns[slot] = _column(self, slot)
        return found

    def keys(self, slots: tuple[Slot, ...]) -> tuple[list[Any], dict[Any, int]]:
        """Each container's key for ``slots`` and the position of the first container of each distinct key;
        kept, as conditions often read the same slots. A slot of one value for all containers is left out of
        the key (most are: every container is an app container, every one requests memory)."""
        found = self.grouped.get(slots)
        if found is None:
            varying = [c for c in map(self.column, slots) if len(c.distinct) > 1]
            first: dict[Any, int]
            if not varying:  # one group
                keys: list[Any] = [None] * len(self.raws)
                first = {None: 0} if keys else {}
            elif len(varying) == 1 and len(varying[0].distinct) <= _FEW:
                keys = varying[0].values
                first = {value: keys.index(value) for value in varying[0].distinct}  # each found near the top
            else:
                keys = varying[0].values if len(varying) == 1 else list(zip(*(c.values for c in varying), strict=True))
                # the reversed pairs leave each key at its lowest position
                first = dict(zip(reversed(keys), range(len(keys) - 1, -1, -1), strict=True))
            found = self.grouped[slots] = (keys, first)
        return found

    def amount(self, text: str | None) -> Any:
        """The quantity written ``text`` (None: null), from the value the model parsed; one object per string."""
        if text is None:
            return None
        found = self.amounts.get(text)
        if found is None:
            value = self.parsed.get(text)
            found = self.amounts[text] = Quantity(value, text.strip()) if value is not None \
                else objects.quantity_of(text)
        return found

    def records(self, first: dict[Any, int], readers: tuple[tuple[str, Reader], ...],
                partial: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]) -> Iterator[tuple[dict[str, Any], Any]]:
        """(the record of container ``first[key]``, key) for each key: the fields ``readers`` read and, of
        ``requests``/``limits`` in ``partial``, just the resources named (raw name, record field).

        One record is filled in for every key: the body reads it before the next one is asked for (a
        dictionary or three per key is what deciding 20,000 different containers spent its time on). An
        ephemeral container's record is its own, in full."""
        record: dict[str, Any] = {name: {} for name, _ in partial}
        targets = [(record[name], self.limits if name == "limits" else self.requests, wanted)
                   for name, wanted in partial]
        amounts, amount, parsed = self.amounts, self.amount, self.parsed
        for key, i in first.items():
            if self.requests[i] is _NOT_READ:  # ephemeral: as written
                yield objects.container_record(self.raws[i], self.types[i], self.roles[i]), key
                continue
            for name, read in readers:
                record[name] = read(self, i)
            for target, mappings, wanted in targets:
                mapping = mappings[i]
                for raw_name, field_name in wanted:
                    if field_name == "gpu":
                        target[field_name] = objects.resource(mapping, field_name, parsed)
                    else:
                        text = mapping.get(raw_name)
                        target[field_name] = None if text is None else amounts.get(text) or amount(text)
            yield record, key


_NOT_READ: dict[str, str] = {}  # an ephemeral container's requests and limits: not the model's (read only)
Reader = Callable[[ContainerTable, int], Any]  # one field of container ``index``'s record


def _reader(name: str) -> Reader:
    """How a record's field ``name`` is read from the table."""
    if name == "type":
        return lambda t, i: t.types[i]
    if name == "role":
        return lambda t, i: t.roles[i]
    if name in _RESOURCE_FIELDS:  # the whole record (``ContainerTable.records`` reads single resources)
        limits = name == "limits"
        return lambda t, i: objects.resources((t.limits if limits else t.requests)[i], t.parsed)
    if name in _IMAGE_FIELDS:
        part = ("registry", "repository", "tag", "digest").index(name) if name != "image" else -1

        def image_part(t: ContainerTable, i: int) -> Any:
            image = t.raws[i].get("image")
            if type(image) is not str:
                return None
            return image if part < 0 else objects.parse_image(image)[part]

        return image_part
    if name == "image_pull_policy":
        return lambda t, i: pull if type(pull := t.raws[i].get("imagePullPolicy")) is str else None
    key = _FLAG_KEYS[name]
    return lambda t, i: _flag(t.raws[i], key)


def _flag(raw: dict[str, Any], key: str) -> bool | None:
    security = raw.get("securityContext")
    if isinstance(security, dict):
        value = security.get(key)
        return value if isinstance(value, bool) else None
    return None


def _column(table: ContainerTable, slot: Slot) -> Column:
    """One value per container, at C speed where it can be (``map`` over the rows) and per row otherwise."""
    name, resource, presence = slot
    if name == "type":
        return Column.of(table.types)
    if name == "role":
        return Column.of(table.roles)
    raws = table.raws
    if name in _IMAGE_FIELDS or name == "image_pull_policy":  # every image field follows from the image
        return _strings(list(map(dict.get, raws, repeat("image" if name in _IMAGE_FIELDS else "imagePullPolicy"))))
    if name not in _RESOURCE_FIELDS:  # a securityContext flag
        contexts = list(map(dict.get, raws, repeat("securityContext")))
        if not any(contexts):  # none set (the usual case): every flag null
            return Column([None] * len(raws), {None})
        key = _FLAG_KEYS[name]
        return Column.of([_flag(raw, key) for raw in raws])
    mappings = table.requests if name == "requests" else table.limits
    if resource is None:
        values: list[Any] = [tuple(m.items()) for m in mappings]
    elif resource == "gpu":
        accelerator = objects.is_accelerator
        if presence:
            values = [any(accelerator(r) for r in m) for m in mappings]
        else:
            values = [tuple((r, v) for r, v in m.items() if accelerator(r)) for m in mappings]
    else:
        key = "ephemeral-storage" if resource == "ephemeral_storage" else resource
        # every amount the model kept is a valid quantity: present means not null
        values = list(map(dict.__contains__ if presence else dict.get, mappings, repeat(key)))
    for i in table.ephemeral:  # an ephemeral container's amounts are not the model's: a row of its own
        values[i] = object()
    return Column.of(values)


def _strings(values: list[Any]) -> Column:
    """``values`` with every value that is not a string as None."""
    try:
        distinct = set(values)
    except TypeError:  # a list or a mapping where a string belongs
        distinct = {type}  # not a string: converted below
    if all(type(value) is str or value is None for value in distinct):
        return Column(values, distinct)
    return Column.of([value if type(value) is str else None for value in values])


def _table(w: Workload) -> ContainerTable:
    """The rows in ``objects.entries`` order: each role's containers, then its ephemeral containers."""
    raws: list[dict[str, Any]] = []
    types: list[str] = []
    roles: list[str] = []
    requests: list[dict[str, str]] = []
    limits: list[dict[str, str]] = []
    obj = w.doc.obj
    for role in w.roles:
        containers = role.containers
        ephemeral = objects.ephemeral_containers(obj, role)
        if all(c.raw is not None and not c.init for c in containers):  # the usual case: lists at C speed
            raws += [c.raw for c in containers]  # type: ignore[misc]  # not None: checked above
            types += ["app"] * len(containers)
            requests += [c.requests for c in containers]
            limits += [c.limits for c in containers]
            raws += ephemeral
            types += ["ephemeral"] * len(ephemeral)
            requests += [_NOT_READ] * len(ephemeral)
            limits += [_NOT_READ] * len(ephemeral)
        else:
            for raw, type_, _, amounts, _ in objects.entries_of(role, ephemeral):
                raws.append(raw)
                types.append(type_)
                requests.append(amounts[0] if amounts else _NOT_READ)
                limits.append(amounts[1] if amounts else _NOT_READ)
        roles += [role.name] * (len(containers) + len(ephemeral))
    own = [i for i, m in enumerate(requests) if m is _NOT_READ] if "ephemeral" in types else []
    return ContainerTable(raws, types, roles, requests, limits, objects.parsed_quantities(w), own)


#: How many containers the workload model read of the workload's roles (every condition over containers asks).
container_count: Callable[[Workload], int] = per_workload(lambda w: sum(len(r.containers) for r in w.roles))

#: The workload's container table, built once per workload.
container_table: Callable[[Workload], ContainerTable] = per_workload(_table)


@frozen_record
class Grouping:
    """How one quantifier's body reads its container: the slots (in a fixed order), and its records' readers."""

    slots: tuple[Slot, ...]
    readers: tuple[tuple[str, Reader], ...]
    #: ``requests``/``limits`` read resource by resource: (field, ((raw name, record field), ...))
    partial: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]

    @staticmethod
    def of(q: ast.Quantifier) -> Grouping:
        slots = reads(q.body, q.names[0].name)
        readers: list[tuple[str, Reader]] = []
        partial: list[tuple[str, tuple[tuple[str, str], ...]]] = []
        for name in sorted({s[0] for s in slots}):
            if name in _RESOURCE_FIELDS and (name, None, False) not in slots:
                wanted = sorted({r for n, r, _ in slots if n == name and r is not None})
                partial.append((name, tuple(("ephemeral-storage" if r == "ephemeral_storage" else r, r)
                                            for r in wanted)))
            else:
                readers.append((name, _reader(name)))
        return Grouping(tuple(sorted(slots, key=repr)), tuple(readers), tuple(partial))

    def groups_of(self, w: Workload) -> Iterator[tuple[dict[str, Any], Any]]:
        """(a record, its key) per distinct key of the container table (``small_classes`` is None for ``w``)."""
        table = container_table(w)
        return table.records(table.keys(self.slots)[1], self.readers, self.partial)

    def keys(self, w: Workload) -> list[Any]:
        return container_table(w).keys(self.slots)[0]


def alike_everywhere(e: ast.Quantifier) -> bool:
    """Whether ``e``'s body (one ``by_class`` accepts) reads nothing but its container's ``CLASS_FIELDS``: no
    attribute of the workload, no ``cel()``. Then its value is one for every container of a kind, in any
    workload (``objects.container_classes``' ids)."""
    variable = e.names[0].name

    def reads_the_container_only(x: ast.Expr) -> bool:
        if isinstance(x, ast.Name):
            return x.id == variable
        if isinstance(x, ast.Call) and x.func.name not in FUNCTIONS:
            return False
        return all(reads_the_container_only(c) for c in children(x))

    return reads_the_container_only(e.body)


#: The workload's container classes when it has few enough containers to decide per class (else None: per
#: group of its container table), once per workload for every quantifier that asks.
small_classes: Callable[[Workload], objects.ContainerClasses | None] = per_workload(
    lambda w: container_classes(w) if container_count(w) < _COLUMNS_FROM else None)

#: The verdicts of bodies that read only their container (``alike_everywhere``), by the body's text, then by
#: the kind of container (``ContainerClasses.ids``); each bounded, started again past ``_VERDICTS_AT_MOST``.
_verdicts: dict[str, dict[int, bool]] = {}
_VERDICTS_AT_MOST = 8192
PerClass = Callable[[Any, objects.ContainerClasses], list[bool]]


def _per_class(q: ast.Quantifier, body: Closure) -> PerClass:
    """Whether the body holds for the record of each of a workload's container classes: for a body
    ``alike_everywhere``, each kind of container decided once in the process's life (till the table fills)."""
    if not alike_everywhere(q):
        return lambda w, classes: [body((w, r)) is True for r in classes.records]
    verdicts = _verdicts.setdefault(unparse(q.body), {})

    def decide(w: Any, classes: objects.ContainerClasses) -> list[bool]:
        ids = classes.ids
        if len(ids) == 1:  # one class (most pods): its kind decided before, nearly always
            held = verdicts.get(ids[0])
            if held is not None:
                return [held]
        out = []
        for j, kind in enumerate(ids):
            held = verdicts.get(kind)
            if held is None:
                held = body((w, classes.record_of(j))) is True
                if kind >= 0:
                    if len(verdicts) >= _VERDICTS_AT_MOST:
                        verdicts.clear()
                    verdicts[kind] = held
            out.append(held)
        return out

    return decide


def quantify(q: ast.Quantifier, body: Closure) -> Closure:
    """``all/any/none/count c in containers: body`` decided once per group of containers alike in what the
    body reads; the body gets the frame ``(workload, record)``. ``count`` counts every container of the
    groups it holds for."""
    grouping = Grouping.of(q)
    per_class = _per_class(q, body)
    if q.op in ("all", "any", "none"):
        want = q.op != "all"
        decided = (q.op == "any") if want else False  # what a deciding group makes the result
        otherwise = not decided

        def some(w: Any) -> Any:
            classes = small_classes(w)
            if classes is not None:
                return decided if want in per_class(w, classes) else otherwise
            for record, _ in grouping.groups_of(w):
                if (body((w, record)) is True) == want:
                    return decided
            return otherwise

        return some

    def count(w: Any) -> Any:
        classes = small_classes(w)
        if classes is not None:
            return sum(len(m) for held, m in zip(per_class(w, classes), classes.members, strict=True) if held)
        holding = _keys_where(grouping, body, w, True)
        if not holding:
            return 0
        sizes = Counter(grouping.keys(w))
        return sum(map(sizes.__getitem__, holding))

    return count


def _keys_where(grouping: Grouping, body: Closure, w: Any, want: bool) -> set[Any]:
    """The keys of the groups of ``w``'s container table for which ``body`` is ``want``. (Comprehensions
    apart from the closures: in them, each evaluation would make a cell for ``w``.)"""
    return {key for record, key in grouping.groups_of(w) if (body((w, record)) is True) is want}


def deciding(q: ast.Quantifier, body: Closure) -> Callable[[Workload], list[str]]:
    """The containers (named as in messages, in order) on which a top-level ``all`` fails, or which match
    ``any``/``none``, each group of alike containers decided once."""
    grouping = Grouping.of(q)
    per_class = _per_class(q, body)
    want = q.op != "all"
    #: the verdicts per kind of container of a body ``alike_everywhere`` (``_per_class``), read here first for a
    #: pod of one kind of container decided before (the commonest case): no call and no list for it
    verdicts = _verdicts[unparse(q.body)] if alike_everywhere(q) else {}

    def find(w: Workload) -> list[str]:
        classes = small_classes(w)
        if classes is not None:
            ids = classes.ids
            if len(ids) == 1:
                one = verdicts.get(ids[0])
                if one is not None:  # ``per_class`` would give [one]
                    return [] if one is not want else list(map(classes.label, classes.members[0]))
            held = per_class(w, classes)
            if want not in held:  # the commonest outcome: nothing to name
                return []
            if len(held) == 1:  # one class (most pods): its members, in order
                return list(map(classes.label, classes.members[0]))
            found: list[int] = []
            for verdict, members in zip(held, classes.members, strict=True):
                if verdict is want:
                    found += members
            if len(found) > 1:
                found.sort()
            return list(map(classes.label, found))
        chosen = _keys_where(grouping, body, w, want)
        if not chosen:  # the commonest outcome: nothing to name
            return []
        return _labels(container_table(w), grouping.keys(w), chosen)

    return find


def _labels(table: ContainerTable, keys: list[Any], chosen: set[Any]) -> list[str]:
    """How the containers whose key is ``chosen`` are named in messages, in order."""
    return [_label(table.raws[i], i) for i, key in enumerate(keys) if key in chosen]


def _label(raw: dict[str, Any], index: int) -> str:
    name = raw.get("name")
    return name if type(name) is str and name else f"#{index}"
