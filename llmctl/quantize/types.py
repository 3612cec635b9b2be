"""The GGUF file types llama.cpp's quantizer writes: name, ftype id, main tensor type, size per weight."""

from __future__ import annotations

from dataclasses import dataclass

from llmctl.core.errors import UsageError

#: ggml tensor type id -> (name, elements per block, bytes per block); tests check it against `gguf`.
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("f32", 1, 4), 1: ("f16", 1, 2), 2: ("q4_0", 32, 18), 3: ("q4_1", 32, 20), 6: ("q5_0", 32, 22),
    7: ("q5_1", 32, 24), 8: ("q8_0", 32, 34), 9: ("q8_1", 32, 40), 10: ("q2_K", 256, 84),
    11: ("q3_K", 256, 110), 12: ("q4_K", 256, 144), 13: ("q5_K", 256, 176), 14: ("q6_K", 256, 210),
    15: ("q8_K", 256, 292), 16: ("iq2_xxs", 256, 66), 17: ("iq2_xs", 256, 74), 18: ("iq3_xxs", 256, 98),
    19: ("iq1_s", 256, 50), 20: ("iq4_nl", 32, 18), 21: ("iq3_s", 256, 110), 22: ("iq2_s", 256, 82),
    23: ("iq4_xs", 256, 136), 24: ("i8", 1, 1), 25: ("i16", 1, 2), 26: ("i32", 1, 4), 27: ("i64", 1, 8),
    28: ("f64", 1, 8), 29: ("iq1_m", 256, 56), 30: ("bf16", 1, 2), 34: ("tq1_0", 256, 54),
    35: ("tq2_0", 256, 66), 39: ("mxfp4", 32, 17), 40: ("nvfp4", 64, 36), 41: ("q1_0", 128, 18),
    42: ("q2_0", 64, 18),
}
#: Types that carry no quantization loss: a source made of these is not "already quantized".
FLOAT_TYPES = frozenset({0, 1, 28, 30})


@dataclass(frozen=True)
class QuantType:
    """One `--type`: llama.cpp's ftype and the tensor type most of the weights get."""

    name: str
    ftype: int
    ggml_type: int
    description: str
    needs_imatrix: bool = False

    @property
    def block_size(self) -> int:
        return GGML_TYPES[self.ggml_type][1]

    @property
    def bits_per_weight(self) -> float:
        _, elements, nbytes = GGML_TYPES[self.ggml_type]
        return nbytes * 8 / elements


def ggml_type_name(type_id: int) -> str:
    return GGML_TYPES.get(type_id, (f"type{type_id}", 0, 0))[0]


def bits_of(type_id: int) -> float | None:
    entry = GGML_TYPES.get(type_id)
    return entry[2] * 8 / entry[1] if entry else None


# The descriptions are ours; the ftype ids are llama.h's `enum llama_ftype`. A k-quant or i-quant
# "mix" gives a few sensitive tensors (attn_v, ffn_down, output) a larger type than its main one.
# needs_imatrix marks what llama.cpp's quantizer refuses to make without one. LLAMA_FTYPE_MOSTLY_NVFP4
# (39) is left out: llama_model_quantize answers "invalid output file type" for it.
_TABLE: tuple[QuantType, ...] = (
    QuantType("f32", 0, 0, "32-bit float: no loss, the size of the original"),
    QuantType("f16", 1, 1, "16-bit float: practically lossless, half of f32"),
    QuantType("bf16", 32, 30, "bfloat16: f32's range with 8 bits of mantissa"),
    QuantType("q8_0", 7, 8, "8-bit, one scale per 32 weights: near lossless"),
    QuantType("q6_k", 18, 14, "6-bit k-quant: very small loss"),
    QuantType("q5_k_m", 17, 13, "5-bit k-quant mix, a few tensors at 6 bits: small loss"),
    QuantType("q5_k_s", 16, 13, "5-bit k-quant: small loss"),
    QuantType("q5_1", 9, 7, "5-bit with scale and minimum per 32 weights (legacy)"),
    QuantType("q5_0", 8, 6, "5-bit with one scale per 32 weights (legacy)"),
    QuantType("q4_k_m", 15, 12, "4-bit k-quant mix, a few tensors at 6 bits: the usual choice"),
    QuantType("q4_k_s", 14, 12, "4-bit k-quant: a little smaller than q4_k_m, a little worse"),
    QuantType("q4_1", 3, 3, "4-bit with scale and minimum per 32 weights (legacy)"),
    QuantType("q4_0", 2, 2, "4-bit with one scale per 32 weights (legacy)"),
    QuantType("iq4_nl", 25, 20, "4-bit non-linear levels, blocks of 32"),
    QuantType("iq4_xs", 30, 23, "4.25-bit non-linear levels, blocks of 256"),
    QuantType("q3_k_l", 13, 11, "3-bit k-quant mix, many tensors at 5 bits"),
    QuantType("q3_k_m", 12, 11, "3-bit k-quant mix, some tensors at 4-5 bits"),
    QuantType("q3_k_s", 11, 11, "3-bit k-quant: noticeable loss"),
    QuantType("iq3_m", 27, 21, "3.4-bit i-quant mix"),
    QuantType("iq3_s", 26, 21, "3.4-bit i-quant"),
    QuantType("iq3_xs", 22, 21, "3.3-bit i-quant mix", needs_imatrix=True),
    QuantType("iq3_xxs", 23, 18, "3.06-bit i-quant", needs_imatrix=True),
    QuantType("q2_k", 10, 10, "2-bit k-quant mix: large loss"),
    QuantType("q2_k_s", 21, 10, "2-bit k-quant, smaller mix: large loss", needs_imatrix=True),
    QuantType("iq2_m", 29, 22, "2.7-bit i-quant mix", needs_imatrix=True),
    QuantType("iq2_s", 28, 22, "2.5-bit i-quant", needs_imatrix=True),
    QuantType("iq2_xs", 20, 17, "2.31-bit i-quant", needs_imatrix=True),
    QuantType("iq2_xxs", 19, 16, "2.06-bit i-quant", needs_imatrix=True),
    QuantType("iq1_m", 31, 29, "1.75-bit i-quant: for very large models only", needs_imatrix=True),
    QuantType("iq1_s", 24, 19, "1.56-bit i-quant: for very large models only", needs_imatrix=True),
    QuantType("tq2_0", 37, 35, "2-bit ternary: only for models trained ternary (BitNet)"),
    QuantType("tq1_0", 36, 34, "1.69-bit ternary: only for models trained ternary (BitNet)"),
    QuantType("mxfp4_moe", 38, 39, "MXFP4 for mixture-of-experts weights, the rest at q8_0"),
    QuantType("q2_0", 41, 42, "2-bit, one scale per 64 weights"),
    QuantType("q1_0", 40, 41, "1-bit, one scale per 128 weights"),
)


def available_types() -> list[QuantType]:
    """The types this llama-cpp-python knows (its `LLAMA_FTYPE_*` constants), in the table's order."""
    import llama_cpp

    offered = {getattr(llama_cpp, name) for name in dir(llama_cpp)
               if name.startswith("LLAMA_FTYPE_") and name != "LLAMA_FTYPE_GUESSED"}
    return [t for t in _TABLE if t.ftype in offered]


#: Float types every llama.cpp with GGUF offers: naming only these needs no llama_cpp import
#: (an HF -> GGUF conversion to them runs llama.cpp's converter alone).
_FLOAT_NAMES = frozenset({"f32", "f16", "bf16"})


def parse_types(spec: str) -> list[QuantType]:
    """`q8_0,q4_k_m` -> the types, in order; an unknown name is a UsageError listing the valid ones."""
    names = {raw.strip().lower() for raw in spec.split(",") if raw.strip()}
    if names and names <= _FLOAT_NAMES:
        known = {t.name: t for t in _TABLE if t.name in _FLOAT_NAMES}
    else:
        known = {t.name: t for t in available_types()}
    chosen: list[QuantType] = []
    for raw in spec.split(","):
        name = raw.strip().lower()
        if not name:
            continue
        if name not in known:
            raise UsageError(f"unknown quantization type {raw.strip()!r}; "
                             f"choose from: {', '.join(known)} (see llmctl quantize --list)")
        if known[name] not in chosen:
            chosen.append(known[name])
    if not chosen:
        raise UsageError("--type is empty; see llmctl quantize --list")
    return chosen
