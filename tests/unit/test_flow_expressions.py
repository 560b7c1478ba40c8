"""Flow block parameters with `{{ … }}` CEL templates, and CEL conditions, as a flow author sees
them: values, text, errors that name the parameter, plain data only, and limits on hostile input."""

from __future__ import annotations

import pickle
import string
from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medialoom.flows import expressions as ex
from medialoom.flows.expressions import ExpressionError, condition, resolve

CONTEXT = {
    "trigger": {"public_id": "shoes/red-1", "format": "jpg", "bytes": 80_000, "width": 1200,
                "tags": ["portrait", "sale"], "meta": None},
    "steps": {"info": {"output": {"tags": ["red", "shoe"], "score": 0.75, "faces": [{"age": 31}]}}},
    "item": {"name": "thumb", "width": 300},
    "index": 2,
    "vars": {"prefix": "cdn/", "limit": 5},
    "env": {"BUCKET": "media"},
}


def error(params, context=CONTEXT, **kwargs) -> ExpressionError:
    with pytest.raises(ExpressionError) as caught:
        resolve(params, context, **kwargs)
    return caught.value


# --- values ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("template", "value"), [
    ("{{ steps.info.output.tags }}", ["red", "shoe"]),
    ("  {{trigger.width}}\n", 1200),
    ("{{ steps.info.output.score * 2.0 }}", 1.5),
    ("{{ trigger.bytes > 50000 }}", True),
    ("{{ trigger.meta }}", None),
    ("{{ {'w': item.width, 'tags': trigger.tags} }}", {"w": 300, "tags": ["portrait", "sale"]}),
    ("{{ steps.info.output.faces[0] }}", {"age": 31}),
])
def test_a_whole_field_expression_passes_its_native_value(template, value):
    assert resolve(template, CONTEXT) == value


def test_mixed_text_renders_each_value():
    assert resolve("{{ vars.prefix }}{{ trigger.public_id }}.{{ trigger.format }}", CONTEXT) == \
        "cdn/shoes/red-1.jpg"
    assert resolve("w={{ item.width }} r={{ 0.5 }} ok={{ true }} none=[{{ null }}]", CONTEXT) == \
        "w=300 r=0.5 ok=true none=[]"
    assert resolve("tags: {{ trigger.tags }} {{ {'a': [1, null]} }}", CONTEXT) == \
        'tags: ["portrait","sale"] {"a":[1,null]}'
    assert resolve("{{ 'é' }} and {{ ['é'] }}", CONTEXT) == 'é and ["é"]'


def test_nested_parameters_keep_their_shape():
    params = {"public_id": "{{ vars.prefix + trigger.public_id }}", "width": "{{ item.width }}",
              "quality": 80, "flags": ["{{ trigger.format == 'jpg' }}", "fixed", None],
              "pair": ("{{ index }}", 1), "{{ not_a_template_key }}": "x"}
    assert resolve(params, CONTEXT) == {
        "public_id": "cdn/shoes/red-1", "width": 300, "quality": 80, "flags": [True, "fixed", None],
        "pair": (2, 1), "{{ not_a_template_key }}": "x"}


def test_cel_operators_and_functions():
    values = resolve([
        '{{ "portrait" in trigger.tags }}', '{{ "landscape" in trigger.tags }}',
        "{{ trigger.public_id.startsWith('shoes/') && trigger.public_id.endsWith('-1') }}",
        "{{ trigger.public_id.contains('red') }}", "{{ trigger.public_id.matches('^shoes/[a-z]+-[0-9]$') }}",
        "{{ size(trigger.tags) + size('hello') + trigger.tags.size() }}",
        "{{ (trigger.width - 200) / 4 % 7 }}", "{{ trigger.width > 1000 ? 'large' : 'small' }}",
        "{{ trigger.tags.filter(t, t != 'sale').map(t, t + '!') }}",
        "{{ steps.info.output.faces.exists(f, f.age > 30) }}", "{{ has(trigger.format) && !has(trigger.height) }}",
        "{{ int(trigger.width) + int('5') }}", "{{ string(index) }}", "{{ double(index) / 4.0 }}",
        "{{ 'key' in {'key': 1} }}", "{{ [1, 2] + [3] }}", "{{ env.BUCKET + ':' + vars.prefix }}",
    ], CONTEXT)
    assert values == [True, False, True, True, True, 9, 5, "large", ["portrait!"], True, True, 1205, "2", 0.5,
                      True, [1, 2, 3], "media:cdn/"]


def test_missing_context_names_are_null_or_empty():
    assert resolve(["{{ item }}", "{{ index }}", "{{ size(steps) }}", "{{ vars }}", "{{ has(trigger.x) }}",
                    "{{ env }}"], {}) == [None, None, 0, {}, False, {}]
    assert condition("item == null", {"trigger": {}})


def test_datetimes_become_rfc3339_text():
    context = {"trigger": {"at": datetime(2024, 5, 1, 12, 30, tzinfo=UTC), "naive": datetime(2024, 5, 1),
                           "day": date(2024, 5, 1)}}
    assert resolve(["{{ trigger.at }}", "{{ trigger.naive }}", "{{ trigger.day }}"], context) == \
        ["2024-05-01T12:30:00Z", "2024-05-01T00:00:00Z", "2024-05-01"]
    assert resolve("{{ timestamp(trigger.at) + duration('90s') }}", context) == "2024-05-01T12:31:30Z"
    assert resolve("{{ duration('1.5s') }} {{ duration('90s') }}", context) == "1.5s 90s"


def test_integers_beyond_64_bits_arrive_as_doubles():
    assert resolve("{{ trigger.big }}", {"trigger": {"big": 2**63}}) == float(2**63)
    assert "too large" in str(error("{{ trigger.big }}", {"trigger": {"big": 10**400}}))


# --- escaping -------------------------------------------------------------------------------------

def test_literal_braces():
    assert resolve(r"\{{ not evaluated }}", CONTEXT) == "{{ not evaluated }}"
    assert resolve(r"a \{{ b }} {{ index }}", CONTEXT) == "a {{ b }} 2"
    assert resolve("{{ '{{' + \"}}\" }}", CONTEXT) == "{{}}"
    assert resolve("x {{ '}}' }} y", CONTEXT) == "x }} y"
    assert resolve('{{ {"a": {"b": 1} } }}', CONTEXT) == {"a": {"b": 1}}
    assert resolve(r"C:\dir\{{ index }}", CONTEXT) == r"C:\dir{{ index }}"  # a backslash always escapes
    assert resolve("{{ '\\\\' }}{{ index }}", CONTEXT) == "\\2"
    assert resolve("no braces }} here {", CONTEXT) == "no braces }} here {"


# --- errors ---------------------------------------------------------------------------------------

def test_errors_name_the_parameter_path():
    params = {"body": {"items": ["ok", "{{ trigger.width }}", "{{ nope.x }}"]}}
    caught = error(params)
    assert caught.parameter == "body.items[2]"
    assert "'body.items[2]'" in str(caught) and "'nope'" in str(caught) and caught.expression == "nope.x"
    assert error(params, path="params").parameter == "params.body.items[2]"
    assert error(["{{ 1 }}", "{{ ! }}"]).parameter == "[1]"


def test_missing_keys_and_unknown_names_are_clear():
    assert "no such key: 'height'" in str(error({"h": "{{ trigger.height }}"}))
    unknown = str(error({"h": "{{ asset.width }}"}))
    assert "unknown variable or function 'asset'" in unknown and "trigger, steps" in unknown
    assert "'lowerAscii'" in str(error({"h": "{{ trigger.format.lowerAscii() }}"}))


def test_syntax_errors_name_the_parameter_and_position():
    caught = error({"url": "https://x/{{ trigger.public_id + }}"})
    assert caught.parameter == "url" and "syntax error at 1:" in caught.problem
    assert "never closed" in error({"url": "https://x/{{ trigger.public_id"}).problem
    assert "empty" in error({"url": "a {{ }} b"}).problem


@pytest.mark.parametrize("expression", [
    "1 / 0", "9223372036854775807 + 1", "[1][5]", "1 + 'a'", "'a'.matches('(')", "int('x')", "b'\\xff'",
    "timestamp('nope')", "trigger.tags.x", "null.x", "{1: 2}[3]", "uint(-1)", "int(1e300)",
])
def test_runtime_failures_are_expression_errors(expression):
    caught = error({"p": "{{ " + expression + " }}"})
    assert caught.parameter == "p" and caught.problem


def test_conditions():
    assert condition('"portrait" in trigger.tags && trigger.bytes > 50000', CONTEXT) is True
    assert condition("trigger.format == 'png'", CONTEXT) is False
    for bad in ("trigger.width", "'true'", "trigger.meta", "trigger.tags"):
        with pytest.raises(ExpressionError, match="must give true or false") as caught:
            condition(bad, CONTEXT)
        assert caught.value.parameter == "condition"
    with pytest.raises(ExpressionError) as caught:
        condition("trigger.width >", CONTEXT, parameter="branches[1].when")
    assert caught.value.parameter == "branches[1].when" and "syntax error" in str(caught.value)
    with pytest.raises(ExpressionError):
        condition(None, CONTEXT)  # type: ignore[arg-type]


def test_the_error_survives_pickling():
    caught = error({"p": "{{ nope }}"})
    copy = pickle.loads(pickle.dumps(caught))
    assert (copy.parameter, copy.problem, copy.expression, str(copy)) == \
        (caught.parameter, caught.problem, caught.expression, str(caught))


# --- plain data only --------------------------------------------------------------------------------

class Asset:
    secret = "s3cr3t"

    def __init__(self):
        self.public_id = "x"


@pytest.mark.parametrize("value", [Asset(), {1, 2}, b"bytes", len, object(), {("a",): 1}, {1.5: "x"}])
def test_host_objects_in_the_context_are_refused(value):
    context = {"trigger": {}, "steps": {"load": {"output": value}}}
    caught = error({"p": "{{ steps.load.output.public_id }}"}, context)
    assert caught.parameter == "p" and "steps.load.output" in caught.problem
    assert "s3cr3t" not in str(caught)


def test_only_the_names_an_expression_reads_are_converted():
    context = {"steps": {"load": {"output": Asset()}}, "vars": {"n": 1}}
    assert resolve({"a": "{{ vars.n }}", "b": "{{ index }}"}, context) == {"a": 1, "b": None}
    assert error({"a": "{{ vars.n }}", "b": "{{ has(steps.load) }}"}, context).parameter == "b"


def test_dunder_looking_keys_are_just_keys():
    context = {"trigger": {"__class__": "k", "__init__": {"__globals__": 1}}}
    assert resolve("{{ trigger.__class__ }}-{{ trigger.__init__.__globals__ }}", context) == "k-1"
    assert "no such key" in error("{{ trigger.__dict__ }}", context).problem
    assert "no such key" in error("{{ trigger.tags.__len__ }}", {"trigger": {"tags": {}}}).problem


def test_bytes_results_are_refused():
    assert "bytes" in error("{{ b'abc' }}").problem
    assert resolve("{{ string(b'abc') }}", CONTEXT) == "abc"


# --- limits ---------------------------------------------------------------------------------------

def test_expression_length_limit():
    longest = "+".join(["1"] * (ex.MAX_EXPRESSION // 2))
    assert resolve("{{ " + longest + " }}", {}) == ex.MAX_EXPRESSION // 2
    assert "longer than" in error("{{ " + longest + "+1 }}", {}).problem
    with pytest.raises(ExpressionError, match="longer than"):
        condition(longest + "+1 > 0", {})


def test_segment_limit():
    assert resolve("{{ 1 }}" * ex.MAX_SEGMENTS, {}) == "1" * ex.MAX_SEGMENTS
    assert "segments" in error("{{ 1 }}" * (ex.MAX_SEGMENTS + 1), {}).problem


def test_rendered_size_limit():
    context = {"trigger": {"s": "a" * (ex.MAX_RENDERED // 2 + 1)}}
    assert "grows beyond" in error("x {{ trigger.s }}{{ trigger.s }}", context).problem
    assert "larger than" in error("{{ trigger.s + trigger.s }}", context).problem
    assert "larger than" in error("{{ [trigger.s, trigger.s] }}", context).problem
    assert len(resolve("{{ trigger.s }}", context)) == ex.MAX_RENDERED // 2 + 1


def test_context_depth_limit_and_cycles():
    deep: dict = {}
    node = deep
    for _ in range(ex.MAX_DEPTH + 5):
        node["a"] = node = {}
    assert "nested deeper" in error("{{ trigger }}", {"trigger": deep}).problem
    cycle: dict = {}
    cycle["self"] = cycle
    assert "nested deeper" in error("{{ size(vars) }}", {"vars": cycle}).problem


@pytest.mark.parametrize("expression", [
    "trigger.tags.map(a, trigger.tags.map(b, b))",
    "trigger.tags.exists(a, trigger.tags.filter(b, true).size() > 0)",
    "trigger.tags.all(a, trigger.tags.exists(b, trigger.tags.exists(c, true)))",
    "trigger.tags . map ( a , trigger.tags.//hidden\nmap(b, b))",
    'trigger.tags.map(a, // """\ntrigger.tags.map(b, b) // """\n)',
])
def test_comprehensions_that_multiply_cost_are_refused(expression):
    assert "cannot be nested" in error("{{ " + expression + " }}").problem


@pytest.mark.parametrize(("expression", "value"), [
    ("steps.info.output.faces.exists(f, trigger.tags.exists(t, t == 'sale'))", True),
    ("trigger.tags.filter(t, ['sale'].exists(s, s == t))", ["sale"]),
    ("trigger.tags.map(t, t).filter(t, t != 'sale').map(t, size(t))", [8]),
    ("trigger.tags.exists(t, t == '.map(x, [].map(y, y))')", False),
    ("trigger.tags.exists_one(t, t == 'sale') && trigger.tags.existsOne(t, t == 'x') == false", True),
])
def test_ordinary_comprehensions_are_allowed(expression, value):
    assert resolve("{{ " + expression + " }}", CONTEXT) == value


def test_programs_are_compiled_once():
    ex._compile.cache_clear()
    for _ in range(3):
        resolve({"a": "{{ trigger.width + 1 }}", "b": "{{ trigger.width + 1 }}"}, CONTEXT)
    info = ex._compile.cache_info()
    assert (info.misses, info.hits) == (1, 5)


# --- anything whatsoever gives a value or an ExpressionError ----------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20,
)
contexts = st.fixed_dictionaries({}, optional={name: json_values for name in ex.NAMES})
cel_pieces = st.sampled_from([
    "{{", "}}", "\\{{", "{", "}", " ", "trigger", "steps", "item", "index", "vars", "env", ".", "[0]", "['a']",
    "a", "x", "1", "2.5", "-", "+", "*", "/", "%", "==", "!=", "<", "&&", "||", "!", "?", ":", "(", ")", "[",
    "]", ",", "'", '"', "'''", "r'", "b'", "\\", "in", "size(", "has(", ".map(v, v)", ".exists(v, ", ".filter(",
    "null", "true", "int(", "string(", "timestamp(", "duration('1s')", ".startsWith('a')", "//", "\n", "é",
    "\ud800", "\x00", "9223372036854775807", "1u", "b'\\xff'",
])
templates = st.lists(cel_pieces, max_size=30).map("".join) | st.text(string.printable + "{}é\ud800", max_size=40)


@settings(max_examples=400, deadline=None)
@given(templates, contexts)
def test_any_template_and_context_give_a_value_or_an_expression_error(template, context):
    try:
        resolve({"p": [template]}, context)
    except ExpressionError as caught:
        assert caught.parameter == "p[0]" and str(caught)


@settings(max_examples=300, deadline=None)
@given(templates, contexts)
def test_any_condition_gives_a_bool_or_an_expression_error(text, context):
    try:
        assert condition(text, context) in (True, False)
    except ExpressionError as caught:
        assert caught.parameter == "condition" and str(caught)
