"""The configuration kit: YAML validated by pydantic models, every error naming file:line."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, model_validator

from gongzhi.core.config_kit import (
    ID_PATTERN,
    STRICT_CONFIG,
    ConfigValueError,
    Duration,
    Identifier,
    PositiveDuration,
    Secret,
    load_model,
    parse_duration,
    parse_model,
    parse_yaml,
)
from gongzhi.core.errors import ConfigError


class Source(BaseModel):
    model_config = STRICT_CONFIG

    id: Identifier
    kind: Literal["mqtt", "chirpstack", "modbus"]
    every: PositiveDuration = 30.0
    token: Secret | None = None


class Limits(BaseModel):
    model_config = STRICT_CONFIG

    quiet: Duration = 0.0
    retries: int = 3


class Sources(BaseModel):
    model_config = STRICT_CONFIG

    version: Literal[1]
    limits: Limits = Limits()
    sources: tuple[Source, ...]


GOOD = """\
version: 1
limits:
  quiet: 1h30m
sources:
  - id: meters-1
    kind: mqtt
  - id: lorawan
    kind: chirpstack
    every: 5m
"""


def error_of(text: str, **kwargs: object) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse_model(text, "sources.yaml", Sources, **kwargs)  # type: ignore[arg-type]
    return caught.value


def test_a_good_file_becomes_a_frozen_model() -> None:
    parsed = parse_model(GOOD, "sources.yaml", Sources)
    assert parsed.limits.quiet == 5400.0
    assert [(s.id, s.kind, s.every) for s in parsed.sources] == [
        ("meters-1", "mqtt", 30.0), ("lorawan", "chirpstack", 300.0)]
    with pytest.raises(ValueError, match="frozen"):
        parsed.sources[0].id = "other"  # type: ignore[misc]


def test_an_unknown_value_names_its_line_path_and_the_choices() -> None:
    error = error_of(GOOD.replace("kind: chirpstack", "kind: chirpstak"))
    assert error.source == "sources.yaml:8"
    assert str(error).startswith(
        "sources.yaml:8: sources[1].kind: unknown value 'chirpstak' (expected 'mqtt', "
        "'chirpstack' or 'modbus')")


def test_a_bad_type_names_the_key_line() -> None:
    error = error_of(GOOD.replace("  quiet: 1h30m", "  quiet: 1h\n  retries: many"))
    assert error.source == "sources.yaml:4"
    assert "limits.retries:" in str(error)
    assert "'many'" in str(error)


def test_an_unknown_key_names_its_own_line_and_the_allowed_keys() -> None:
    error = error_of(GOOD.replace("    every: 5m", "    every: 5m\n    evry: 5m"))
    assert error.source == "sources.yaml:10"
    assert "sources[1]: unknown key 'evry' (allowed: id, kind, every, token)" in str(error)


def test_a_missing_key_names_the_mapping_that_lacks_it() -> None:
    error = error_of(GOOD.replace("  - id: lorawan\n    kind", "  - kind"))
    assert error.source == "sources.yaml:7"
    assert "sources[1]: missing key 'id'" in str(error)
    top = error_of(GOOD.replace("version: 1\n", ""))
    assert top.source == "sources.yaml:1"
    assert "missing key 'version'" in str(top)


def test_errors_about_a_whole_block_mapping_name_where_it_starts() -> None:
    class Inner(BaseModel):
        model_config = STRICT_CONFIG
        a: int
        b: int

    class Outer(BaseModel):
        model_config = STRICT_CONFIG
        inner: Inner

    with pytest.raises(ConfigError) as caught:
        parse_model("# header\ninner:\n  a: 1\n", "o.yaml", Outer)
    assert str(caught.value) == "o.yaml:3: inner: missing key 'b'"
    with pytest.raises(ConfigError) as listed:
        parse_model("- inner\n", "o.yaml", Outer)
    assert str(listed.value) == "o.yaml:1: the top level must be a mapping"


def test_every_error_is_reported_each_with_its_line() -> None:
    error = error_of(GOOD.replace("kind: chirpstack", "kind: lora").replace("id: meters-1",
                                                                            "id: meters 1"))
    assert error.source == "sources.yaml:5"
    assert "also sources.yaml:8: sources[1].kind" in str(error)


def test_a_bad_duration_names_its_line_and_the_syntax() -> None:
    error = error_of(GOOD.replace("every: 5m", "every: 5 minutes"))
    assert error.source == "sources.yaml:9"
    assert "sources[1].every: not a duration: '5 minutes' (use e.g. 30s" in str(error)
    zero = error_of(GOOD.replace("every: 5m", "every: 0s"))
    assert zero.source == "sources.yaml:9"
    assert "greater than 0" in str(zero)


@pytest.mark.parametrize(("text", "seconds"), [
    ("30s", 30.0), ("5m", 300.0), ("2h", 7200.0), ("1d", 86400.0), ("1h30m", 5400.0),
    ("1d 2h", 93600.0), ("250ms", 0.25), ("1.5h", 5400.0), ("90", 90.0), (90, 90.0),
    (0.5, 0.5), ("30 s", 30.0),
])
def test_one_duration_syntax(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5x", "m5", "30m1h", "1h1h", "-5s", True, -1, None, "5 m s"])
def test_durations_that_are_refused(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_one_id_pattern() -> None:
    assert ID_PATTERN.fullmatch("estate_7-B")
    assert not ID_PATTERN.fullmatch("estate 7")
    assert not ID_PATTERN.fullmatch("x" * 65)
    error = error_of(GOOD.replace("id: lorawan", "id: lora/wan"))
    assert error.source == "sources.yaml:7"
    assert "sources[1].id: id 'lora/wan' must be 1-64 letters" in str(error)


def test_a_secret_written_in_the_file_is_refused() -> None:
    error = error_of(GOOD + "    token: hunter2\n")
    assert error.source == "sources.yaml:10"
    assert "sources[1].token: a secret is not written in a config file" in str(error)
    assert "hunter2" not in str(error)


def test_a_secret_comes_from_the_environment_and_is_masked() -> None:
    parsed = parse_model(GOOD + "    token: {env: LORA_TOKEN}\n", "sources.yaml", Sources,
                         environ={"LORA_TOKEN": "hunter2\n"})
    token = parsed.sources[1].token
    assert token is not None and token.reveal() == "hunter2"
    assert "hunter2" not in repr(parsed) and "hunter2" not in str(token)
    assert token.origin == "env:LORA_TOKEN"
    assert "hunter2" not in parsed.model_dump_json()


def test_a_missing_secret_is_loud_and_names_its_line() -> None:
    error = error_of(GOOD + "    token:\n      env: LORA_TOKEN\n", environ={})
    assert error.source == "sources.yaml:11"
    assert "environment variable LORA_TOKEN is not set" in str(error)
    both = error_of(GOOD + "    token: {env: A, file: b}\n", environ={"A": "x"})
    assert "exactly one of" in str(both)


def test_a_secret_file_is_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "lora").write_text("s3cret\n", encoding="utf-8")
    config = tmp_path / "sources.yaml"
    config.write_text(GOOD + "    token: {file: secrets/lora}\n", encoding="utf-8")
    token = load_model(config, Sources).sources[1].token
    assert token is not None and token.reveal() == "s3cret"
    config.write_text(GOOD + "    token: {file: secrets/none}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_model(config, Sources)
    assert caught.value.source == f"{config}:10"
    assert "cannot read secret file" in str(caught.value)


def test_yaml_errors_name_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_model("version: 1\nsources: [\n  {id: a,\n", "s.yaml", Sources)
    assert caught.value.source is not None and caught.value.source.startswith("s.yaml:")
    assert "not valid YAML" in str(caught.value)
    with pytest.raises(ConfigError) as duplicate:
        parse_model("version: 1\nsources: []\nversion: 1\n", "s.yaml", Sources)
    assert duplicate.value.source == "s.yaml:3"
    assert "duplicate key 'version'" in str(duplicate.value)
    with pytest.raises(ConfigError) as unsafe:
        parse_model("version: !!python/name:os.system\n", "s.yaml", Sources)
    assert unsafe.value.source == "s.yaml:1"
    with pytest.raises(ConfigError) as missing:
        load_model(tmp_path / "absent.yaml", Sources)
    assert "cannot read" in str(missing.value)


def test_merge_keys_and_lines_of_a_document() -> None:
    document = parse_yaml("base: &b\n  kind: mqtt\nsources:\n  - <<: *b\n    id: x\n", "d")
    assert document.data["sources"] == [{"kind": "mqtt", "id": "x"}]
    assert document.line_of(("sources", 0, "id")) == 5
    assert document.line_of(("sources", 0, "nothing")) == 4
    assert document.where(("nowhere",)) == "d:1"


def test_a_validator_can_point_below_its_value() -> None:
    class Pair(BaseModel):
        model_config = STRICT_CONFIG
        names: tuple[str, ...]

        @model_validator(mode="after")
        def distinct(self) -> Pair:
            if len(set(self.names)) != len(self.names):
                raise ConfigValueError("a name is used twice", "names", len(self.names) - 1)
            return self

    with pytest.raises(ConfigError) as caught:
        parse_model("names:\n  - a\n  - a\n", "p.yaml", Pair)
    assert caught.value.source == "p.yaml:3"
    assert "names[1]: a name is used twice" in str(caught.value)
