"""Helpers the tests import as `support.*` (pytest puts tests/ on sys.path: `pythonpath` in pyproject.toml).

api_wire: recorded API fixtures, test keys and the recording mock transport; fault_server, batch_server,
chat_script: small local HTTP servers; scripted_run: the scripted provider, installed as a plugin through
scripted_dist; serve_llama.py: llama-cpp-python's server as a script; smollm2_hf: SmolLM2 as an HF folder.
"""
