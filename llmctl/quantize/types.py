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
    #: the type llama.cpp gives the bulk of the matrices (its `default_type` for this ftype)
    ggml_type: int
    description: str
    needs_imatrix: bool = False
    #: llama.cpp's own bits-per-weight figure for a mix whose average differs from its main type's
    stated_bpw: float | None = None

    @property
    def block_size(self) -> int:
        return GGML_TYPES[self.ggml_type][1]

    @property
    def bits_per_weight(self) -> float:
        if self.stated_bpw is not None:
            return self.stated_bpw
        _, elements, nbytes = GGML_TYPES[self.ggml_type]
        return nbytes * 8 / elements


def ggml_type_name(type_id: int) -> str:
    return GGML_TYPES.get(type_id, (f"type{type_id}", 0, 0))[0]


def bits_of(type_id: int) -> float | None:
    entry = GGML_TYPES.get(type_id)
    return entry[2] * 8 / entry[1] if entry else None


# The descriptions are ours; the ftype ids are llama.h's `enum llama_ftype`; the main tensor types are
# llama.cpp's (src/llama-quant.cpp, `default_type`). Bits per weight: the main type's block arithmetic,
# which is also llama.cpp's figure wherever its quantize tool states one in bpw; for the four i-quant
# mixes whose average differs from their main type (iq2_s, iq2_m, iq3_xs, iq3_m) llama.cpp's stated
# average. A description names no bit count but the one its layout spells out (values + a 16-bit scale
# per block), so the column and the text cannot disagree. A k-quant or i-quant "mix" gives a few
# sensitive tensors (attn_v, ffn_down, output) a larger type than its main one. needs_imatrix marks
# what llama.cpp's quantizer refuses to make without one. LLAMA_FTYPE_MOSTLY_NVFP4 (39) is left out:
# llama_model_quantize answers "invalid output file type" for it.
_TABLE: tuple[QuantType, ...] = (
    QuantType("f32", 0, 0, "32-bit float: no loss, the size of the original"),
    QuantType("f16", 1, 1, "16-bit float: practically lossless, half of f32"),
    QuantType("bf16", 32, 30, "bfloat16: f32's range in 16 bits, half of f32"),
    QuantType("q8_0", 7, 8, "8-bit values and a 16-bit scale per 32 weights: near lossless"),
    QuantType("q6_k", 18, 14, "k-quant q6_K for every matrix: very small loss"),
    QuantType("q5_k_m", 17, 13, "k-quant mix: most matrices q5_K, a few q6_K: small loss"),
    QuantType("q5_k_s", 16, 13, "k-quant q5_K for nearly every matrix: small loss"),
    QuantType("q5_1", 9, 7, "5-bit values, a 16-bit scale and a 16-bit minimum per 32 weights (legacy)"),
    QuantType("q5_0", 8, 6, "5-bit values and a 16-bit scale per 32 weights (legacy)"),
    QuantType("q4_k_m", 15, 12, "k-quant mix: most matrices q4_K, a few q6_K: the usual choice"),
    QuantType("q4_k_s", 14, 12, "k-quant q4_K for nearly every matrix: a little smaller than q4_k_m, a little worse"),
    QuantType("q4_1", 3, 3, "4-bit values, a 16-bit scale and a 16-bit minimum per 32 weights (legacy)"),
    QuantType("q4_0", 2, 2, "4-bit values and a 16-bit scale per 32 weights (legacy)"),
    QuantType("iq4_nl", 25, 20, "4-bit non-linear levels and a 16-bit scale per 32 weights"),
    QuantType("iq4_xs", 30, 23, "i-quant with non-linear levels in blocks of 256"),
    QuantType("q3_k_l", 13, 11, "k-quant mix: most matrices q3_K, many q5_K"),
    QuantType("q3_k_m", 12, 11, "k-quant mix: most matrices q3_K, some q4_K/q5_K"),
    QuantType("q3_k_s", 11, 11, "k-quant q3_K for nearly every matrix: noticeable loss"),
    QuantType("iq3_m", 27, 21, "i-quant mix: most matrices iq3_s, some larger", stated_bpw=3.66),
    QuantType("iq3_s", 26, 21, "i-quant iq3_s"),
    QuantType("iq3_xs", 22, 21, "i-quant mix: iq3_s and the smaller iq3_xxs", needs_imatrix=True, stated_bpw=3.3),
    QuantType("iq3_xxs", 23, 18, "i-quant iq3_xxs", needs_imatrix=True),
    QuantType("q2_k", 10, 10, "k-quant mix: most matrices q2_K, some q3_K/q4_K: large loss"),
    QuantType("q2_k_s", 21, 10, "k-quant q2_K for nearly every matrix: large loss", needs_imatrix=True),
    QuantType("iq2_m", 29, 22, "i-quant mix: most matrices iq2_s, some larger", needs_imatrix=True, stated_bpw=2.7),
    QuantType("iq2_s", 28, 17, "i-quant mix: most matrices iq2_xs, some larger", needs_imatrix=True,
              stated_bpw=2.5),
    QuantType("iq2_xs", 20, 17, "i-quant iq2_xs", needs_imatrix=True),
    QuantType("iq2_xxs", 19, 16, "i-quant iq2_xxs", needs_imatrix=True),
    QuantType("iq1_m", 31, 29, "i-quant iq1_m: for very large models only", needs_imatrix=True),
    QuantType("iq1_s", 24, 19, "i-quant iq1_s: for very large models only", needs_imatrix=True),
    QuantType("tq2_0", 37, 35, "ternary: only for models trained ternary (BitNet)"),
    QuantType("tq1_0", 36, 34, "ternary, packed tighter: only for models trained ternary (BitNet)"),
    QuantType("mxfp4_moe", 38, 39, "MXFP4 for mixture-of-experts weights, the rest q8_0"),
    QuantType("q2_0", 41, 42, "2-bit values and a 16-bit scale per 64 weights"),
    QuantType("q1_0", 40, 41, "1-bit values and a 16-bit scale per 128 weights"),
)


def available_types() -> list[QuantType]:
    """The types this llama-cpp-python knows (its `LLAMA_FTYPE_*` constants), in the table's order."""
    import llama_cpp

    offered = {getattr(llama_cpp, name) for name in dir(llama_cpp)
               if name.startswith("LLAMA_FTYPE_") and name != "LLAMA_FTYPE_GUESSED"}
    return [t for t in _TABLE if t.ftype in offered]


def quant_types() -> list[QuantType]:
    """The types this llama-cpp-python offers, or the whole table where it is not installed (completion)."""
    try:
        return available_types()
    except ImportError:
        return list(_TABLE)


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
