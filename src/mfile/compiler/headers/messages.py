"""Diagnostics E3xx: item headers (MantikHeader) and item resolution.

The table of codes with their meaning is in ``headers.py``'s docstring; keep both in step.
Header problems are located in the header file; problems with what the M-File asks of an
item (unknown params, bad override values, unknown item names) at the M-File position.
"""

from __future__ import annotations

from mfile.diagnostics import Diagnostic, Severity

_LIMITS = "a MantikHeader may be at most 1 MiB, 100,000 YAML nodes (aliases counted expanded) and 100 levels deep"


# ----------------------------------------------------------------- reading the file (E300-E306)


class HeaderUnreadable(Diagnostic):
    code = "E300"
    message = "cannot read header {path!r}: {reason}"
    hint = "an item directory needs a readable UTF-8 file named MantikHeader (at most 1 MiB)"


class HeaderYamlError(Diagnostic):
    code = "E301"
    message = "invalid YAML: {reason}"
    hint = "check the indentation and quoting near this position"


class UnsafeYamlTag(Diagnostic):
    code = "E302"
    message = "YAML tag {tag!r} is not allowed in a MantikHeader"
    hint = "headers are data: only the standard tags (str, int, float, bool, null, map, seq) are read"


class HeaderTooDeep(Diagnostic):
    code = "E303"
    message = "header is too large: {what}"
    hint = _LIMITS


class YamlDuplicateKey(Diagnostic):
    code = "E304"
    message = "duplicate key {key!r} (first given on line {line}); this one is ignored"
    hint = "a key may appear once per mapping"


class YamlNonScalarKey(Diagnostic):
    code = "E305"
    message = "a mapping key must be a plain name, not a list or mapping"


class HeaderNotMapping(Diagnostic):
    code = "E306"
    message = "a MantikHeader is a mapping of fields (name:, kind:, type:, ...), got {got}"


# ----------------------------------------------------------------- fields (E307-E311)


class FieldType(Diagnostic):
    code = "E307"
    message = "{field} must be {expected}, got {got}"


class UnknownKind(Diagnostic):
    code = "E308"
    message = "unknown kind {value!r}"
    hint = "kind is one of dataset, algorithm, trainable, deployment (absent means algorithm)"


class MantikOnlyKind(Diagnostic):
    code = "E309"
    message = "kind {value!r} is a Mantik engine item that mfile does not run"
    hint = "{replacement}"


class FieldNearMiss(Diagnostic):
    code = "E310"
    severity = Severity.WARNING
    message = "unknown field {field!r} is passed to the payload unchanged; did you mean {suggestion!r}?"
    hint = "rename it to {suggestion!r} if you meant the MantikHeader field"


class MissingField(Diagnostic):
    code = "E311"
    message = "{what} needs the field {field!r}"


# ----------------------------------------------------------------- types (E312-E313, E324-E326)


class BadDataType(Diagnostic):
    code = "E312"
    message = "invalid data type: {reason}"
    hint = "a type is a name (int8 ... uint64, float32, float64, bool, string, void), {{columns: ...}}, or {{type: tensor|image|nullable|array|struct, ...}}"


class BadShape(Diagnostic):
    code = "E313"
    message = "shape entry must be an integer >= 0, null (any size) or \"${{var}}\", got {got}"


class UnknownTypeField(Diagnostic):
    code = "E324"
    severity = Severity.WARNING
    message = "field {field!r} is not part of a {what} type and is ignored"
    hint = "{suggestion}"


class KindFieldIgnored(Diagnostic):
    code = "E325"
    severity = Severity.WARNING
    message = "{field!r} is ignored for kind {item_kind}"
    hint = "{suggestion}"


class BadSubstitutedKey(Diagnostic):
    code = "E326"
    message = "mapping key \"${{{name}}}\" must become a name (string or number), but {name!r} is {got}"


# ----------------------------------------------------------------- metaVariables (E314-E320, E323)


class UndefinedVariable(Diagnostic):
    code = "E314"
    message = "undefined metaVariable \"${{{name}}}\""
    hint = "{suggestion}"


class BadMetaVariable(Diagnostic):
    code = "E315"
    message = "metaVariable {name!r}: {reason}"


class DuplicateMetaVariable(Diagnostic):
    code = "E316"
    message = "metaVariable {name!r} is defined twice (first on line {line})"


class UnknownParam(Diagnostic):
    code = "E317"
    message = "item {item} has no metaVariable {name!r}"
    hint = "{suggestion}"


class FixedParam(Diagnostic):
    code = "E318"
    message = "metaVariable {name!r} of {item} is fixed (fix: true in {where}) and cannot be set"
    hint = "remove {name!r} from params; the item's author pinned it to {value!r}"


class ParamType(Diagnostic):
    code = "E319"
    message = "param {name!r} of {item}: {reason}"
    hint = "the header declares {name!r} as {type}"


class ParamBreaksType(Diagnostic):
    code = "E320"
    message = "param {name}={value!r} makes the header's type invalid: {reason}"
    hint = "see {where} in the header"


class EmbeddedVariable(Diagnostic):
    code = "E323"
    severity = Severity.WARNING
    message = "\"${{{name}}}\" inside a longer string is not substituted"
    hint = "only a value that is exactly \"${{{name}}}\" is replaced; write $$ for a literal dollar"


# ----------------------------------------------------------------- execution (E321-E322, E327-E328)


class UnknownResource(Diagnostic):
    code = "E321"
    message = "unknown resource {key!r}"
    hint = "{suggestion}"


class BadResource(Diagnostic):
    code = "E322"
    message = "resource {key!r}: {reason}"


class SbatchOptionNotAllowed(Diagnostic):
    code = "E327"
    message = "sbatch option {option!r}{reads}: {reason}"
    hint = "{hint}"


class AmbiguousSbatchOption(Diagnostic):
    code = "E328"
    message = "sbatch option {option!r} is ambiguous: {reason}"
    hint = "write the option's full name; allowed: {allowed}"


# ----------------------------------------------------------------- item resolution (E330-E339)


class BadItemName(Diagnostic):
    code = "E330"
    message = "invalid item name {name!r}: {reason}"
    hint = "write namespace/name or namespace/name:version, each part of letters, digits, '.', '_' or '-'"


class PlaceholderItemName(Diagnostic):
    code = "E331"
    message = "item name {name!r} contains the placeholder {placeholder!r}"
    hint = "{suggestion}"


class ItemRootMissing(Diagnostic):
    code = "E332"
    message = "item root {root!r} ({origin}) {reason}"
    hint = "pass an existing directory laid out as <root>/<namespace>/<name>/<version>/MantikHeader"


class ItemPathEntryMissing(Diagnostic):
    code = "E333"
    severity = Severity.WARNING
    message = "item root {root!r} from $MFILE_ITEMS_PATH {reason}; it is skipped"


class UnknownItem(Diagnostic):
    code = "E334"
    message = "no item {name!r} in the item roots"
    hint = "{suggestion}"


class UnknownItemVersion(Diagnostic):
    code = "E335"
    message = "item {name!r} has no version {version!r}"
    hint = "versions found: {versions}"


class ItemOutsideRoot(Diagnostic):
    code = "E336"
    message = "item {name!r} resolves to {target!r}, outside its item root {root!r}"
    hint = "item directories may not be symbolic links out of their root; copy the item instead"


class ShadowedBuiltin(Diagnostic):
    code = "E338"
    severity = Severity.WARNING
    message = "the items/ folder beside the M-File ({root!r}) has its own {name!r}; the built-in item is used"
    hint = "give your item another namespace, or pass its root with --items to replace a built-in on purpose"


class ItemNameMismatch(Diagnostic):
    code = "E337"
    severity = Severity.WARNING
    message = "header says {field} {header_value!r} but the item directory says {dir_value!r}; the directory wins"


class PayloadLacksFunction(Diagnostic):
    code = "E339"
    message = "the payload of {item_kind} item {name!r} defines no {function}() function, which a {item_kind} item needs"
    hint = "define `def {function}{signature}:` in {payload} (see docs/items.md, payload API)"
