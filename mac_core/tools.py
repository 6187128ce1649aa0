"""Python functions as tools the model may call: the :func:`tool` decorator and :class:`Tool`.

A prompt's ``tools`` may mix Python callables and API tool dicts::

    @tool
    def get_weather(city: str, unit: Literal["C", "F"] = "C") -> str:
        \"\"\"The current weather in a city.

        :param city: the city's name, e.g. "Paris".
        \"\"\"
        return f"18 degrees {unit} in {city}"

    Coordinator().run([{"prompt": "Weather in Paris?", "tools": [get_weather]}])

A callable becomes the API's tool definition (``name``, ``description``,
``input_schema``): the schema from its type hints (or, for a function whose one
parameter is a Pydantic model, from that model), the description and each
parameter's description from its docstring (reST ``:param x:``, Google or
NumPy style). Plain (undecorated) functions are accepted as they are;
``@tool(name=..., description=...)`` overrides what the function says of
itself. Dicts (client tools defined by hand, server tools such as web search)
pass through to the request untouched; the engine runs a tool loop only for
the callables (:mod:`mac_core.tool_loop`).

Pydantic (a dependency of the Anthropic SDK) and ``docstring_parser`` are
imported when the first tool is built, not when ``mac_core`` is.
"""

from __future__ import annotations

import functools
import inspect
import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

#: The API's rule for a client tool's name.
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")

#: How many of an input's schema violations the error the model sees names.
ERRORS_NAMED = 3


class ToolInputError(ValueError):
    """The model's input for a tool does not match the tool's schema; the message says what is wrong."""


class Tool:
    """A Python function the model may call: its API definition and how to call it with the model's input.

    Made by :func:`tool` (or by :func:`as_tool` for a plain function);
    calling a :class:`Tool` calls the function, so a decorated function still
    works as one.

    :ivar function: the function (sync or ``async def``).
    :ivar name: the tool's name as the model sees it.
    :ivar description: what the tool does, for the model.
    :ivar input_schema: the JSON Schema of its input (an object).
    :ivar is_async: True for an ``async def`` function (awaited in the event
        loop); False for a sync one (run in a worker thread).
    """

    def __init__(self, function: Callable[..., Any], *, name: str | None = None, description: str | None = None,
                 scope: Mapping[str, Any] | None = None) -> None:
        if not callable(function):
            raise TypeError(f"a tool must be a function, not {type(function).__name__}")
        self.function = function
        functools.update_wrapper(self, function)  # the decorated name keeps its __name__, __doc__, __wrapped__
        self.name = _checked_name(name if name is not None else getattr(function, "__name__", ""), function)
        call_method = None if inspect.isroutine(function) else type(function).__call__  # a callable object's
        self.is_async = inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(call_method)
        docstring = _parsed_docstring(function)
        summary = "\n\n".join(part for part in (docstring.short_description, docstring.long_description) if part)
        self.description = description if description is not None else summary
        hints = _type_hints(function, self.name, scope)
        parameters = _parameters(function, self.name)
        model = _single_model_parameter(parameters, hints)
        if model is not None:
            self._model_parameter: str | None = parameters[0].name
            self._input_model = model
            self._parameters: tuple[str, ...] = ()
        else:
            self._model_parameter = None
            self._input_model = _arguments_model(self.name, parameters, hints, docstring)
            self._parameters = tuple(p.name for p in parameters)
        self.input_schema: dict[str, Any] = _object_schema(self._input_model.model_json_schema(by_alias=True))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.function(*args, **kwargs)

    def definition(self) -> dict[str, Any]:
        """The API tool definition: ``{"name", "description", "input_schema"}`` (no description when it has none)."""
        definition: dict[str, Any] = {"name": self.name}
        if self.description:
            definition["description"] = self.description
        definition["input_schema"] = json.loads(json.dumps(self.input_schema))  # the request's own copy
        return definition

    def arguments(self, tool_input: Any) -> dict[str, Any]:
        """The keyword arguments for the function, validated (and coerced) from the model's ``tool_input``.

        :raises ToolInputError: the input does not match :attr:`input_schema`.
        """
        import pydantic

        if not isinstance(tool_input, Mapping):
            raise ToolInputError(f"the input of {self.name} must be a JSON object, not {type(tool_input).__name__}")
        try:
            validated = self._input_model.model_validate(dict(tool_input))
        except pydantic.ValidationError as exc:
            problems = [f"{_path(error['loc'])}: {error['msg']}" for error in exc.errors()[:ERRORS_NAMED]]
            raise ToolInputError(f"invalid input for {self.name}: {'; '.join(problems)}") from None
        if self._model_parameter is not None:
            return {self._model_parameter: validated}
        given = validated.model_fields_set  # a parameter left out keeps the function's own default
        return {name: getattr(validated, f"p{index}") for index, name in enumerate(self._parameters) if f"p{index}" in given}

    def __repr__(self) -> str:
        return f"<Tool {self.name}{' (async)' if self.is_async else ''}>"


def tool(function: Callable[..., Any] | None = None, *, name: str | None = None,
         description: str | None = None) -> Any:
    """Make a function a :class:`Tool`: ``@tool``, or ``@tool(name=..., description=...)``.

    The schema comes from the type hints (parameters without one take any
    JSON value; defaults make a parameter optional), or from a Pydantic model
    when that is the one parameter; descriptions come from the docstring.
    Errors (a ``*args`` parameter, a type Pydantic cannot describe, a name the
    API refuses) are raised here, when the function is decorated.
    """
    scope = sys._getframe(1).f_locals  # a hint may name a class local to the function that decorates
    if function is None:
        return lambda fn: Tool(fn, name=name, description=description, scope=scope)
    return Tool(function, name=name, description=description, scope=scope)


def as_tool(value: Any, where: str) -> Tool | Mapping[str, Any]:
    """``value`` as a prompt's tool: a :class:`Tool` (a plain callable is made one), or an API tool dict as is.

    :raises TypeError: naming ``where``, for anything else (or a callable that cannot be a tool).
    """
    if isinstance(value, (Tool, Mapping)):
        return value
    if callable(value) and not isinstance(value, type):
        try:
            return Tool(value)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{where}: {exc}") from None
    kind = f"the class {value.__name__}" if isinstance(value, type) else type(value).__name__
    raise TypeError(f"{where} must be a function (a tool) or an API tool dict, not {kind}")


class ToolSet:
    """A prompt's ``tools`` checked: the definitions the request carries and the functions the engine runs.

    :ivar definitions: one API tool dict per tool, in order (the caller's
        dicts as given; each :class:`Tool`'s :meth:`Tool.definition`).
    :ivar functions: the :class:`Tool` objects by name (empty when every tool is a dict).
    """

    __slots__ = ("definitions", "functions")

    def __init__(self, definitions: list[Any], functions: dict[str, Tool]) -> None:
        self.definitions = definitions
        self.functions = functions


def tool_set(tools: Any, where: str = "tools") -> ToolSet:
    """Check a prompt's ``tools`` and split it into :class:`ToolSet` (a :class:`ToolSet` is returned as is).

    :raises TypeError: ``tools`` is not a list, or one item is neither a function nor a dict.
    :raises ValueError: two tools share a name.
    """
    if isinstance(tools, ToolSet):
        return tools
    if isinstance(tools, (str, bytes, Mapping)) or not isinstance(tools, Sequence):
        raise TypeError(f"{where} must be a list of tools (functions or API tool dicts), not {type(tools).__name__}")
    definitions: list[Any] = []
    functions: dict[str, Tool] = {}
    seen: set[str] = set()
    for index, item in enumerate(tools):
        checked = as_tool(item, f"{where}[{index}]")
        name = checked.name if isinstance(checked, Tool) else checked.get("name")
        if isinstance(name, str):
            if name in seen:
                raise ValueError(f"{where}[{index}]: two tools are named {name!r}")
            seen.add(name)
        if isinstance(checked, Tool):
            functions[checked.name] = checked
            definitions.append(checked.definition())
        else:
            definitions.append(checked)
    return ToolSet(definitions, functions)


def result_content(output: Any) -> str:
    """What the model reads of a tool's return value: a string as is, a Pydantic model as its JSON, else JSON."""
    if isinstance(output, str):
        return output
    dump = getattr(output, "model_dump_json", None)
    if callable(dump):
        return dump()
    return json.dumps(output, ensure_ascii=False, default=str)


# --- building the schema ---------------------------------------------------------


def _checked_name(name: str, function: Any) -> str:
    if not TOOL_NAME.match(name or ""):
        raise ValueError(
            f"the tool name {name!r} (of {function!r}) must be 1 to 64 letters, digits, '_' or '-':"
            " give one with @tool(name=...)"
        )
    return name


def _parsed_docstring(function: Any) -> Any:
    import docstring_parser

    return docstring_parser.parse(inspect.getdoc(function) or "")


def _type_hints(function: Any, name: str, scope: Mapping[str, Any] | None) -> dict[str, Any]:
    """The function's resolved type hints; ``scope`` (where it was decorated) resolves names local to a function."""
    import typing

    target = function if inspect.isfunction(function) or inspect.ismethod(function) else function.__call__
    try:
        return typing.get_type_hints(target, localns=dict(scope) if scope else None, include_extras=True)
    except Exception as exc:  # a hint naming something the function's module does not define
        raise TypeError(f"the type hints of the tool {name} cannot be resolved: {exc}") from None


def _parameters(function: Any, name: str) -> list[inspect.Parameter]:
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"the tool {name} has no signature to build its schema from: {exc}") from None
    parameters = list(signature.parameters.values())
    shown = {inspect.Parameter.VAR_POSITIONAL: "*{}", inspect.Parameter.VAR_KEYWORD: "**{}",
             inspect.Parameter.POSITIONAL_ONLY: "{} (positional-only)"}
    for parameter in parameters:
        if parameter.kind in shown:
            raise TypeError(
                f"the tool {name} may take named parameters only, not {shown[parameter.kind].format(parameter.name)}"
            )
    return parameters


def _single_model_parameter(parameters: list[inspect.Parameter], hints: dict[str, Any]) -> type | None:
    """The Pydantic model class of a function whose one parameter is typed with one, else ``None``."""
    if len(parameters) != 1:
        return None
    hint = hints.get(parameters[0].name)
    if not inspect.isclass(hint) or not any(base.__module__.startswith("pydantic") for base in hint.__mro__):
        return None
    import pydantic

    return hint if issubclass(hint, pydantic.BaseModel) else None


def _arguments_model(name: str, parameters: list[inspect.Parameter], hints: dict[str, Any], docstring: Any) -> Any:
    """A Pydantic model of the function's parameters (fields ``p0``, ``p1``... aliased to the parameter names)."""
    import pydantic

    described = {param.arg_name: param.description for param in docstring.params if param.description}
    fields: dict[str, Any] = {}
    for index, parameter in enumerate(parameters):
        # Fields are named p0, p1...: a parameter named like a BaseModel attribute (json, schema) cannot clash.
        default = ... if parameter.default is parameter.empty else parameter.default
        field = pydantic.Field(default, alias=parameter.name, description=described.get(parameter.name))
        fields[f"p{index}"] = (hints.get(parameter.name, Any), field)
    config = pydantic.ConfigDict(extra="forbid", arbitrary_types_allowed=False)
    try:
        model = pydantic.create_model(f"{name}_input", __config__=config, **fields)
        model.model_json_schema(by_alias=True)
    except Exception as exc:  # pydantic names the type it cannot validate or describe
        raise TypeError(f"the tool {name} has a parameter type that has no JSON schema: {exc}") from None
    return model


def _object_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The model's schema as a tool's ``input_schema``: an object, without pydantic's ``title``."""
    schema = dict(schema)
    schema.pop("title", None)
    schema.setdefault("type", "object")
    schema.setdefault("properties", {})
    for value in schema["properties"].values():
        if isinstance(value, dict):
            value.pop("title", None)
    return schema


def _path(parts: Any) -> str:
    text = "$"
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text
