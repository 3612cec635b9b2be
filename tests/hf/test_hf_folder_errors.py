"""Bad model folders and options: each a one-line error with its documented exit code (README: exit codes)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from llmctl.core.errors import LlmctlError, MissingDependencyError, UsageError
from llmctl.providers.base import CompletionRequest
from llmctl.providers.hf import HFProvider

from .conftest import hf_ref


def _fails(action: Callable[[], object]) -> LlmctlError:
    with pytest.raises(LlmctlError) as caught:
        action()
    return caught.value


def _edit_config(folder: Path, **changes: object) -> None:
    path = folder / "config.json"
    config = json.loads(path.read_text())
    config.update(changes)
    path.write_text(json.dumps(config))


def test_folder_without_config(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hi")
    error = _fails(lambda: HFProvider({}).load(hf_ref(tmp_path, "hf:empty")))
    assert (error.exit_code, error.one_line()) == (
        2, f"hf:empty: no config.json in {tmp_path} (not a Hugging Face model folder)")


def test_malformed_config(tiny_gpt2: Path, copy_model: Callable[[Path], Path]) -> None:
    folder = copy_model(tiny_gpt2)
    (folder / "config.json").write_text("{not json")
    error = _fails(lambda: HFProvider({}).load(hf_ref(folder, "hf:bad")))
    assert (error.exit_code, error.one_line()) == (
        2, "hf:bad: config.json is not valid JSON (Expecting property name enclosed in double quotes)")


def test_folder_without_weights(tiny_gpt2: Path, copy_model: Callable[[Path], Path]) -> None:
    folder = copy_model(tiny_gpt2)
    (folder / "model.safetensors").unlink()
    error = _fails(lambda: HFProvider({}).load(hf_ref(folder, "hf:bare")))
    assert (error.exit_code, error.one_line()) == (2, f"hf:bare: no model weights (model.safetensors) in {folder}")


def _pickle_only(tiny_gpt2: Path, copy_model: Callable[[Path], Path]) -> Path:
    from transformers import AutoModelForCausalLM

    folder = copy_model(tiny_gpt2)
    (folder / "model.safetensors").unlink()
    model = AutoModelForCausalLM.from_pretrained(str(tiny_gpt2))
    import torch

    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    return folder


def test_pickle_only_needs_allow_pickle(tiny_gpt2: Path, copy_model: Callable[[Path], Path]) -> None:
    folder = _pickle_only(tiny_gpt2, copy_model)
    error = _fails(lambda: HFProvider({}).load(hf_ref(folder, "hf:old")))
    assert (error.exit_code, error.one_line()) == (
        2, "hf:old: only pickle weights (pytorch_model.bin), which can run code when loaded; "
           "pass --allow-pickle if you trust this folder")
    allowed = HFProvider({"allow_pickle": True}).complete(
        hf_ref(folder), CompletionRequest("Hannah is a", temperature=0, max_tokens=5))
    reference = HFProvider({}).complete(hf_ref(tiny_gpt2), CompletionRequest("Hannah is a", temperature=0,
                                                                             max_tokens=5))
    assert allowed.text == reference.text


def test_safetensors_are_preferred_over_pickle(tiny_gpt2: Path, copy_model: Callable[[Path], Path]) -> None:
    folder = copy_model(tiny_gpt2)
    # A pickle beside the safetensors is never opened: this one would fail to load if it were.
    (folder / "pytorch_model.bin").write_bytes(b"not a pickle at all")
    result = HFProvider({}).complete(hf_ref(folder), CompletionRequest("Hannah is a", temperature=0, max_tokens=3))
    assert result.usage.output_tokens == 3


def test_truncated_weights_are_a_clear_error(tiny_gpt2: Path, copy_model: Callable[[Path], Path]) -> None:
    folder = copy_model(tiny_gpt2)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    error = _fails(lambda: HFProvider({}).load(hf_ref(folder, "hf:cut")))
    assert error.exit_code == 2
    assert error.one_line().startswith("hf:cut: cannot load the model: ")


def test_auto_map_needs_trust_remote_code(tiny_gpt2: Path, copy_model: Callable[[Path], Path]) -> None:
    folder = copy_model(tiny_gpt2)
    _edit_config(folder, auto_map={"AutoModelForCausalLM": "modeling_evil.EvilModel"})
    error = _fails(lambda: HFProvider({}).load(hf_ref(folder, "hf:remote")))
    assert (error.exit_code, error.one_line()) == (
        2, "hf:remote: the model needs remote code (its config.json maps to Python files in the folder "
           "(auto_map)); pass --trust-remote-code if you trust this folder")


def test_unknown_architecture_needs_trust_remote_code(tiny_gpt2: Path, copy_model: Callable[[Path], Path]) -> None:
    folder = copy_model(tiny_gpt2)
    _edit_config(folder, model_type="frogformer", architectures=["FrogformerForCausalLM"])
    error = _fails(lambda: HFProvider({}).load(hf_ref(folder, "hf:frog")))
    assert (error.exit_code, error.one_line()) == (
        2, "hf:frog: the model needs remote code (model type 'frogformer' is not one transformers knows); "
           "pass --trust-remote-code if you trust this folder")


def test_folder_without_tokenizer(tiny_gpt2: Path, copy_model: Callable[[Path], Path]) -> None:
    folder = copy_model(tiny_gpt2)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (folder / name).unlink(missing_ok=True)
    error = _fails(lambda: HFProvider({}).tokenizer(hf_ref(folder, "hf:notok")))
    assert (error.exit_code, error.one_line()) == (
        2, f"hf:notok: no tokenizer in {folder} (tokenizer.json or tokenizer_config.json)")


@pytest.mark.parametrize(("options", "message"), [
    ({"n_gpu_layers": 10}, "--n-gpu-layers does not apply to the hf backend; it takes --device, --threads, "
                           "--allow-pickle, --trust-remote-code"),
    ({"n_ctx": 512}, "--n-ctx does not apply to the hf backend; it takes --device, --threads, --allow-pickle, "
                     "--trust-remote-code"),
    ({"device": "gpu"}, "--device must be cpu, cuda, cuda:N, mps or auto, not 'gpu'"),
    ({"threads": 0}, "--threads must be at least 1, not 0"),
])
def test_options_the_provider_cannot_honour(options: dict[str, object], message: str) -> None:
    error = _fails(lambda: HFProvider(options))
    assert (error.exit_code, error.one_line()) == (2, message)


def test_cuda_without_a_gpu(tiny_gpt2: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    error = _fails(lambda: HFProvider({"device": "cuda"}).load(hf_ref(tiny_gpt2)))
    assert (error.exit_code, error.one_line()) == (
        2, "--device cuda: torch sees no CUDA GPU here (try --device cpu or auto)")


def test_auto_device_falls_back_to_cpu(tiny_gpt2: Path) -> None:
    import torch

    provider = HFProvider({"device": "auto"})
    result = provider.complete(hf_ref(tiny_gpt2), CompletionRequest("Hannah", temperature=0, max_tokens=2))
    assert result.usage.output_tokens == 2
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert next(provider._loaded[str(tiny_gpt2)].model.parameters()).device.type == expected


def test_missing_transformers_is_exit_5(tiny_gpt2: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)  # what `import transformers` meets when absent
    error = _fails(lambda: HFProvider({}).load(hf_ref(tiny_gpt2)))
    assert isinstance(error, MissingDependencyError)
    assert (error.exit_code, error.one_line()) == (5, "transformers is not installed; run: pip install 'llmctl[hf]'")


def test_not_a_folder(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="^hf:gone: no such folder: "):
        HFProvider({}).load(hf_ref(tmp_path / "gone", "hf:gone"))


def test_folder_without_config_through_the_cli(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from llmctl.cli.app import app

    (tmp_path / "tokenizer.json").write_text("{}")
    result = CliRunner().invoke(app, ["complete", "-m", f"hf:{tmp_path}", "hi"], catch_exceptions=False)
    assert result.exit_code == 2
    assert result.stderr == f"llmctl: error: hf:{tmp_path}: no config.json in {tmp_path} " \
                            "(not a Hugging Face model folder)\n"
