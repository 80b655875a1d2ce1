import pytest

from transforms.core.settings import (
    DEFAULT_CONFIG_PATH,
    ConfigError,
    FetchSettings,
    PipelineConfig,
    config_from_mapping,
    load_config,
)


def test_bundled_default_config_loads_and_matches_code_defaults():
    assert DEFAULT_CONFIG_PATH.exists()
    assert load_config() == PipelineConfig()


def test_values_override_defaults_and_ints_become_floats():
    cfg = config_from_mapping({"fetch": {"retries": 0, "read_timeout_s": 3}})
    assert cfg.fetch.retries == 0
    assert cfg.fetch.read_timeout_s == 3.0 and isinstance(cfg.fetch.read_timeout_s, float)
    assert cfg.extract == PipelineConfig().extract


@pytest.mark.parametrize(
    "data, message",
    [
        ({"fetch": {"retrys": 1}}, "unknown key"),
        ({"fecth": {}}, "unknown section"),
        ({"fetch": {"retries": "two"}}, "expected a number"),
        ({"fetch": {"retries": True}}, "expected a number"),
        ({"fetch": {"max_bytes": 10}}, "max_bytes"),
        ({"output": {"compression": "lz9"}}, "compression"),
        ({"fetch": []}, "expected a mapping"),
        ([1, 2], "top level"),
    ],
)
def test_invalid_config_is_a_clear_error(data, message):
    with pytest.raises(ConfigError, match=message):
        config_from_mapping(data)


def test_unreadable_and_invalid_yaml_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(str(tmp_path / "missing.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("fetch: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(str(bad))


def test_settings_are_frozen():
    with pytest.raises(AttributeError):
        FetchSettings().retries = 5  # type: ignore[misc]
