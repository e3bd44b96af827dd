#!/usr/bin/env python3
"""Writes the tests' model: a tiny llama-architecture GGUF with random weights.

    make-model.py OUT.gguf

It loads in a blink and generates gibberish fast on one CPU thread, which is all the proxy's tests
need from a real Ollama: real streams, real counts, real timings. The weights come from a fixed
seed, so the file, and the digest Ollama gives it, are the same on every machine.

The vocabulary is SentencePiece-style (what llama.cpp's loader expects of a "llama" tokenizer):
<unk>, <s>, </s>, the 256 byte tokens every SentencePiece vocabulary falls back on, then word
pieces. Only the word pieces can be generated: every other token's output row is zero while theirs
are large, so sampling practically never picks one. Replies therefore never end early (they run to
the client's num_predict / max_tokens), and each generated token is printable ASCII that a
server streams as one chunk of its own.
"""
import string
import sys

import numpy as np
from gguf import GGUFWriter, LlamaFileType, TokenType

EMBED = 64
LAYERS = 2
HEADS = 4
KV_HEADS = 2
FFN = 128
CONTEXT = 2048
VOCAB = 512
SEED = 24


def vocabulary() -> tuple[list[str], list[float], list[int]]:
    tokens = ["<unk>", "<s>", "</s>"]
    types = [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL]
    tokens += [f"<0x{b:02X}>" for b in range(256)]
    types += [TokenType.BYTE] * 256
    words = ["▁" + c for c in string.ascii_lowercase + string.digits] + list(string.ascii_lowercase)
    syllables = [a + b for a in "bcdfghklmnprstvz" for b in "aeiou"]
    words += ["▁" + s for s in syllables] + syllables
    words += list(string.punctuation)
    for w in words:
        if len(tokens) == VOCAB:
            break
        if w not in tokens:
            tokens.append(w)
            types.append(TokenType.NORMAL)
    # Longer pieces score higher, so the tokenizer prefers them over single characters.
    scores = [0.0 if t != TokenType.NORMAL else float(len(tok)) - i / 1000 for i, (tok, t) in enumerate(zip(tokens, types))]
    return tokens, scores, [int(t) for t in types]


def main(out: str) -> None:
    rng = np.random.default_rng(SEED)
    tokens, scores, types = vocabulary()
    n_vocab = len(tokens)
    head_dim = EMBED // HEADS

    w = GGUFWriter(out, "llama")
    w.add_name("tiny")
    w.add_file_type(LlamaFileType.ALL_F32)
    w.add_context_length(CONTEXT)
    w.add_embedding_length(EMBED)
    w.add_block_count(LAYERS)
    w.add_feed_forward_length(FFN)
    w.add_head_count(HEADS)
    w.add_head_count_kv(KV_HEADS)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(head_dim)
    w.add_rope_freq_base(10000.0)
    w.add_vocab_size(n_vocab)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_unk_token_id(0)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_add_bos_token(True)

    def normal(*shape: int, std: float = 0.02) -> np.ndarray:
        return (rng.standard_normal(shape) * std).astype(np.float32)

    # numpy shapes are (out, in): GGUF stores dimensions the other way round.
    w.add_tensor("token_embd.weight", normal(n_vocab, EMBED, std=1.0))
    for i in range(LAYERS):
        w.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(EMBED, dtype=np.float32))
        w.add_tensor(f"blk.{i}.attn_q.weight", normal(EMBED, EMBED))
        w.add_tensor(f"blk.{i}.attn_k.weight", normal(KV_HEADS * head_dim, EMBED))
        w.add_tensor(f"blk.{i}.attn_v.weight", normal(KV_HEADS * head_dim, EMBED))
        w.add_tensor(f"blk.{i}.attn_output.weight", normal(EMBED, EMBED))
        w.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(EMBED, dtype=np.float32))
        w.add_tensor(f"blk.{i}.ffn_gate.weight", normal(FFN, EMBED))
        w.add_tensor(f"blk.{i}.ffn_up.weight", normal(FFN, EMBED))
        w.add_tensor(f"blk.{i}.ffn_down.weight", normal(EMBED, FFN))
    w.add_tensor("output_norm.weight", np.ones(EMBED, dtype=np.float32))
    output = normal(n_vocab, EMBED, std=1.0)
    output[np.array(types) != int(TokenType.NORMAL)] = 0.0
    w.add_tensor("output.weight", output)

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make-model.py OUT.gguf")
    main(sys.argv[1])
