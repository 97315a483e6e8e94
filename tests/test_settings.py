"""Configuration from the environment and a TOML file, with readable errors."""

import pytest

from image_interpreter.errors import SettingsError
from image_interpreter.settings import load_settings


def test_defaults_are_the_real_sd15_profile_and_a_40_megapixel_limit(monkeypatch):
    settings = load_settings()
    assert settings.profile == "sd15"
    assert settings.limits.max_pixels == 40_000_000
    assert settings.database.startswith("sqlite:///")


def test_environment_variables_set_nested_values(monkeypatch, tmp_path):
    monkeypatch.setenv("IMAGE_INTERPRETER_PROFILE", "tiny")
    monkeypatch.setenv("IMAGE_INTERPRETER_LIMITS__MAX_PIXELS", "1000")
    monkeypatch.setenv("IMAGE_INTERPRETER_MODELS", '{"sd.base": "me/my-model"}')
    settings = load_settings()
    assert settings.profile == "tiny"
    assert settings.limits.max_pixels == 1000
    assert settings.models == {"sd.base": "me/my-model"}


def test_toml_file_is_read_and_environment_wins(monkeypatch, tmp_path):
    config = tmp_path / "settings.toml"
    config.write_text(
        'profile = "sdxl"\ndevice = "cpu"\n[limits]\nmax_bytes = 1234\n', encoding="utf-8"
    )
    monkeypatch.setenv("IMAGE_INTERPRETER_CONFIG", str(config))
    monkeypatch.setenv("IMAGE_INTERPRETER_DEVICE", "cuda:1")
    settings = load_settings()
    assert settings.profile == "sdxl"
    assert settings.limits.max_bytes == 1234
    assert settings.device == "cuda:1"


def test_a_toml_file_in_the_working_directory_is_picked_up(monkeypatch, tmp_path):
    (tmp_path / "image-interpreter.toml").write_text('profile = "tiny"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert load_settings().profile == "tiny"


def test_unknown_profile_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("IMAGE_INTERPRETER_PROFILE", "sd3000")
    with pytest.raises(SettingsError, match="profile"):
        load_settings()


def test_misspelt_setting_in_toml_is_refused(monkeypatch, tmp_path):
    config = tmp_path / "settings.toml"
    config.write_text('profil = "tiny"\n', encoding="utf-8")
    monkeypatch.setenv("IMAGE_INTERPRETER_CONFIG", str(config))
    with pytest.raises(SettingsError, match="profil"):
        load_settings()


def test_missing_config_file_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("IMAGE_INTERPRETER_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(SettingsError, match=r"nope\.toml"):
        load_settings()
