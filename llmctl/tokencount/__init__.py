"""Exact token counts of big inputs, fast: cut the text only where the tokenizer must cut anyway.

A BPE tokenizer (tiktoken, mistral-common's tekken, Hugging Face `tokenizers`) first splits the text
with its pre-tokenizer, then merges inside each pre-token and never across two. So where the
pre-tokenizer is certain to end a pre-token, and splits each side as it splits the whole text,
count(left) + count(right) == count(whole). This package holds those cut points, each with the
proof of why it is certain for the patterns it names, and the code that counts in pieces on every
core; anything not proved is counted whole, never estimated.

    tiktoken_pieces   cl100k, o200k, tekken: `safe_cut`, a process per byte range of a file, threads for a pipe
    tokenizer_json    a tokenizer.json's normalizers and pre-tokenizers -> a proved cut rule, probed
                      against the tokenizer itself before it is used; `pieces` cuts a stream by it

Which tokenizer to count with stays in its provider (`providers/openai/tokens.py`,
`providers/mistral/tokens.py`, `providers/hf/tokenizer.py`). The proofs' tests, in tests/tokencount,
compare every cut and every total against the tokenizers' own libraries. README.md beside this file
says more.
"""
