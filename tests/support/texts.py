"""Texts that stress a tokenizer: prose, code, CJK, emoji, whitespace runs, special-token look-alikes."""

from __future__ import annotations

VARIED_TEXTS = [
    "We live in Paris but ewhd here",
    "def f(x):\n    return x**2  # squared\n\n\n\tclass A: pass\r\n",
    "日本語のテキストと中文混合，한국어도 있어요。",
    "emoji 😀👍🏽 family 👨‍👩‍👧‍👦 flags 🇫🇷🇯🇵",
    "            lots of spaces                 \n\n\n      \t\t\t  end   ",
    "<|endoftext|> <|im_start|>user [INST] hi [/INST] <s></s> <|fim_prefix|>",
    "I'm sure you're right; they'll SAY WE'VE it's DON'T",
    "12345678901234 3.14159e-10 0x1F -42 1,000,000",
    "ÀÉÎÕÜ ñ ß ø å Ελληνικά кириллица عربى עברית हिन्दी",
    "https://example.com/path?q=1&b=2#frag  user@example.org",
    "a" * 300 + " " + "ab" * 200,
    "\u200b\u200d\ufeff zero width and combining e\u0301 a\u0308",
]
