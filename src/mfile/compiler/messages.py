"""The compiler's diagnostics, one catalogue: names and calls (E1xx), types along the pipeline
(E2xx) and the compiler's own limits (E5xx). Syntax (E0xx) is in ``mfile_grammar/syntax.py``,
headers (E3xx) in ``compiler/headers/messages.py``, resources (E4xx) in ``codegen/resources.py``.
"""

from __future__ import annotations

from mfile.diagnostics import Diagnostic, Severity


class UndefinedName(Diagnostic):
    code = "E101"
    message = "name {name!r} is not defined{suggestion}"
    hint = "assign it first (`{name} = MantikItem(name=...)`), or bind it with reference=\"{name}\""


class UsedBeforeAssignment(Diagnostic):
    code = "E102"
    message = "name {name!r} is used before it is assigned on line {line}"
    hint = "M-Files run top to bottom: move the assignment above this line"


class RebindsBuiltin(Diagnostic):
    code = "E103"
    severity = Severity.WARNING
    message = "assignment to {name!r} hides the builtin of that name for the rest of the file"
    hint = "choose another name, e.g. `{name}_task = {name}(...)`"


class UnknownAttribute(Diagnostic):
    code = "E104"
    message = "{what} has no attribute {attr!r}{suggestion}"
    hint = "{available}"


class UnknownKeyword(Diagnostic):
    code = "E105"
    message = "{func}() got an unexpected keyword argument {keyword!r}{suggestion}"
    hint = "{func} takes: {usage}"


class WrongArgumentCount(Diagnostic):
    code = "E106"
    message = "{func}() takes {expected} positional argument(s), got {got}"
    hint = "{usage}"


class MissingArgument(Diagnostic):
    code = "E107"
    message = "{func}() needs the keyword argument {keyword!r}"
    hint = "{usage}"


class NotCallable(Diagnostic):
    code = "E108"
    message = "{what} cannot be called"
    hint = "only builtins and the methods configure, set_input, set_input_name and get_output_reference can be called"


class WrongArgumentType(Diagnostic):
    code = "E109"
    message = "{func}(): {argument} must be {expected}, got {got}"
    hint = None


class UnpackMismatch(Diagnostic):
    code = "E110"
    message = "cannot unpack {got} value(s) into {expected} name(s)"
    hint = "{detail}"


class DuplicateReference(Diagnostic):
    code = "E111"
    message = "reference name {name!r} is already bound on line {line}"
    hint = "each reference= name must be unique in the file"


class ConstantError(Diagnostic):
    code = "E112"
    message = "cannot compute this constant: {reason}"
    hint = "M-Files allow arithmetic on numbers only, within float range"


class DuplicateKey(Diagnostic):
    code = "E114"
    message = "key {key!r} appears twice in this dict (first on line {line})"
    hint = "remove one of them"


class NotAReference(Diagnostic):
    code = "E115"
    message = "{what} is not an output reference"
    hint = "pass a task's output, e.g. `{example}`"


class UselessStatement(Diagnostic):
    code = "E116"
    severity = Severity.WARNING
    message = "this statement has no effect"
    hint = "assign the value to a name, or use it in a pipeline stage"


class NotConstant(Diagnostic):
    code = "E117"
    message = "{what} must be a constant (string, number, bool, None, list or dict of those), got {got}"
    hint = "parameters travel to the item as data; compute values inside the item payload"


class ItemNameNotString(Diagnostic):
    code = "E118"
    message = "the item name must be a string like \"namespace/name:version\", got {got}"
    hint = 'MantikItem(name="mfile/normalize:1")'


class SetInputNameMisuse(Diagnostic):
    code = "E119"
    message = "set_input_name() names an input of a step inside pipeline_component(...); {reason}"
    hint = "component.step.set_input_name(\"data_train\")"


class TaskNotInPipeline(Diagnostic):
    code = "E120"
    message = "{what} reads from task {source!r}, which is not in pipeline {pipeline!r}"
    hint = "add {source!r} to a stage of {pipeline!r} before this one (items can be reused across pipelines)"


class DuplicateTask(Diagnostic):
    code = "E121"
    message = "task {task!r} appears twice in pipeline {pipeline!r} (first on line {line})"
    hint = "a task runs once per pipeline; make a second task with its own name for a second run"


class StageOrder(Diagnostic):
    code = "E122"
    message = "task {task!r} in stage {stage!r} reads from {source!r} in the later stage {source_stage!r}"
    hint = "stages run in order: move {source!r} to this stage or an earlier one"


class Cycle(Diagnostic):
    code = "E123"
    message = "pipeline {pipeline!r} has a cycle: {cycle}"
    hint = "a task cannot depend on its own output, directly or through others"


class UnconnectedInput(Diagnostic):
    code = "E124"
    message = "input {port!r} of task {task!r} is not connected"
    hint = "{hint}"


class HyperParameterNotSearched(Diagnostic):
    code = "E126"
    message = "param {param!r} of {task} is the hyperparameter {hp!r}, but no HyperParameterSearch runs this task"
    hint = "put the task in pipeline_component(...) inside a HyperParameterSearch, or give the param a value"


class HyperParameterNotInGrid(Diagnostic):
    code = "E128"
    message = ("param {param!r} of {task} is the hyperparameter {hp!r}, which the HyperParameterSearch {search!r} "
               "runs but gives no values")
    hint = "add {hp!r} to its hyperparameters={{...}} (the grid has: {grid})"


class MinPointsOverGrid(Diagnostic):
    code = "E129"
    message = "min_points={minimum} asks for more successful grid points than the grid has ({points})"
    hint = "lower min_points, or add values to the grid"


class UnusedHyperParameter(Diagnostic):
    code = "E127"
    message = "hyperparameter {hp!r} is searched but no step of the component uses it"
    hint = 'use it in a step: task.configure(params={{"batch_size": {hp}}})'


class SetInputOnDataset(Diagnostic):
    code = "E131"
    message = "task {task!r} is a dataset and takes no inputs"
    hint = "datasets start a pipeline; list it without set_input(...)"


class WrongInputCount(Diagnostic):
    code = "E132"
    message = "task {task!r} takes {expected} input(s) ({ports}), got {got}"
    hint = "pass one output reference per input"


class UnknownInputName(Diagnostic):
    code = "E133"
    message = "task {task!r} has no input named {port!r}; its inputs are: {ports}"
    hint = "name an existing input, or call .set_input(ref) positionally"


class EmptyPipeline(Diagnostic):
    code = "E134"
    message = "pipeline {pipeline!r} has no tasks"
    hint = 'list tasks in its stages: MantikPipeline(stages={{"stage1": [task]}})'


class ComponentExternalInput(Diagnostic):
    code = "E135"
    message = "step {step!r} of a pipeline component reads {source!r} directly"
    hint = "inside a component, steps get their inputs from the search: name them with set_input_name(...)"


class UnknownPipeline(Diagnostic):
    code = "E136"
    message = "the M-File defines no pipeline named {name!r}{suggestion}"
    hint = "pipelines defined: {available}"


class NoPipelines(Diagnostic):
    code = "E137"
    message = "the M-File defines no pipeline"
    hint = 'add one: batch = MantikPipeline(stages={{"stage1": [task]}})'


class ReservedTaskId(Diagnostic):
    code = "E138"
    message = "task name {task!r} is reserved: the run directory's {path} has that name"
    hint = "name the task something else (the variable or reference= name)"


class TaskIdsDifferInCase(Diagnostic):
    code = "E139"
    message = "task {task!r} and task {other!r} (line {line}) differ only in case"
    hint = "their files would collide on a case-insensitive file system; rename one"


class PortTypeMismatch(Diagnostic):
    code = "E201"
    message = "input {port!r} of task {task!r}: {reason} at {path}: expects {wanted}, got {got}"
    hint = "wire a compatible output, or configure the item's params (shapes use metaVariables)"


class WideningCast(Diagnostic):
    code = "E202"
    severity = Severity.INFO
    message = "input {port!r} of task {task!r}: {path} is cast: {reason}"


class DroppedColumn(Diagnostic):
    code = "E203"
    severity = Severity.INFO
    message = "input {port!r} of task {task!r}: {reason} and is dropped"


class JoinClash(Diagnostic):
    code = "E204"
    message = "join {task!r}: column {column!r} comes from more than one input ({first} and {second})"
    hint = "rename or drop the column in one of the inputs before joining"


class BadBuiltinParam(Diagnostic):
    code = "E205"
    message = "{task!r}: {param} {problem}"
    hint = "{hint}"


class NotAModel(Diagnostic):
    code = "E206"
    message = "{what} of task {task!r} must be a trained model, got {got}"
    hint = "use a trainable's .model, a search's .best_model or a save_model task's .model"


class MissingColumn(Diagnostic):
    code = "E207"
    message = "{what} has no column {column!r}; it has: {available}"
    hint = "get_output_reference() returns one reference per column of the output"


class UncheckedType(Diagnostic):
    code = "E208"
    severity = Severity.INFO
    message = "input {port!r} of task {task!r}: the producer's type is generic (void), so it is checked at run time"


class GridValueType(Diagnostic):
    code = "E209"
    message = "value {value!r} for hyperparameter {hp!r} does not fit param {param!r} of step {step!r}: {reason}"
    hint = "the grid's values must have the metaVariable's type"


class MetricNotInComponent(Diagnostic):
    code = "E210"
    message = "the search metric must be a metric of a step of its component, got {got}"
    hint = "metric=component.evaluate.metric (an evaluate step), or a trainable step's .stats"


class TooDeep(Diagnostic):
    code = "E502"
    message = "expression is nested too deeply to evaluate"
    hint = "flatten the expression; see docs/security.md for the limits"


class GridTooLarge(Diagnostic):
    code = "E503"
    message = "the search grid has {size} points, over the limit of {limit}"
    hint = "search fewer combinations (or split the search); see docs/security.md for the limits"


class GridsTooLarge(Diagnostic):
    code = "E504"
    message = "this search's {size} grid points, after the {used} of the searches before it, are over the limit of {limit} per M-File"
    hint = "search fewer combinations, or put searches in separate M-Files; see docs/security.md for the limits"
